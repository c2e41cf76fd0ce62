"""Option vocabularies shared by the library and the CLI, so both accept the same words."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["Pooling", "Engine", "OutputFormat", "AdaptMethod", "Layout"]


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


@dataclass(frozen=True)
class Layout:
    """How wide a rendered table may be.

    The default (``width=None``) is the full table, as wide as it needs: every column, whole
    layer paths, shapes as Keras writes them. That is what piped output, files and
    ``--wide`` get. With a ``width`` (a terminal's), the table fits it: columns are chosen
    by priority, paths are relative to the traced model, shapes are written without spaces
    and prose wraps inside its column. Nothing is ever cut.
    """

    width: int | None = None
    """The window's width in cells; ``None``: unbounded."""

    def __post_init__(self) -> None:
        if self.width is not None and self.width < 1:
            raise ValueError(f"Layout width must be positive; received {self.width}.")

    @property
    def fitted(self) -> bool:
        return self.width is not None
