"""Option vocabularies shared by the library and the CLI, so both accept the same words."""

from __future__ import annotations

from enum import Enum

__all__ = ["Pooling", "Engine", "OutputFormat"]


class Pooling(str, Enum):
    """Global pooling after the feature extractor (Keras's ``pooling=``)."""

    avg = "avg"
    max = "max"


class Engine(str, Enum):
    """How the trace runs the probe.

    ``stream`` walks the graph once, layer by layer, freeing each tensor when its
    last consumer ran. ``submodels`` builds one multi-output model over every
    layer output (Keras's documented way to see intermediate outputs); it is an
    independent check of the first and needs the whole probe to pass.
    """

    stream = "stream"
    submodels = "submodels"


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
