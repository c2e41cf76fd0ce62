"""Option vocabularies shared by the library and the CLI, so both accept the same words."""

from __future__ import annotations

from enum import Enum

__all__ = ["Pooling", "Engine", "OutputFormat", "AdaptMethod"]


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


class AdaptMethod(str, Enum):
    """How ``shapetrace adapt`` makes N channels meet a model declared for 3 (see docs/adapt.md)."""

    sum_stem = "sum-stem"
    """Rebuild for N channels; the first conv's kernel folded with timm's rule (exact where it applies)."""
    repeat = "repeat"
    """N < 3: a layer in front copies the channels into 3."""
    mean = "mean"
    """N > 3: a frozen 1×1 convolution in front averages them into 3."""
