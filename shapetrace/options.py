"""Option vocabularies shared by the library and the CLI, so both accept the same words."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from enum import Enum
from pathlib import Path
from typing import Any

from shapetrace.errors import UsageError

__all__ = ["Pooling", "Engine", "OutputFormat", "AdaptMethod", "Layout", "TraceOptions"]


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


@dataclass(frozen=True)
class TraceOptions:
    """How a model is made and probed: what trace, snapshot, check and survey share.

    Everything of a trace but the model, its probe's ``channels`` and progress callbacks.
    ``shapetrace.trace(model, channels=1, options=TraceOptions(size=(64, 64)))`` and the
    shorthand ``shapetrace.trace(model, channels=1, size=(64, 64))`` are the same call: keyword
    arguments are fields of this class, applied over ``options``. The values are checked when
    the trace runs (before TensorFlow loads), not here, except the two vocabularies.
    """

    size: tuple[int, int] | str | None = None
    """``(height, width)`` or ``"HxW"`` (a sequence's length: ``"300"``); ``None``: the model's own."""
    batch: int = 1
    """Probe batch size, 1 to 4096."""
    weights: str | Path | None = None
    """``None``, ``"imagenet"`` (downloads) or a local weights file."""
    pooling: Pooling | None = None
    """Global pooling after an application's features (``"avg"``/``"max"`` are accepted)."""
    native: bool = False
    """Build the application declared for ``channels`` instead of 3."""
    top: bool = False
    """Keep the application's ImageNet classifier (needs its default size)."""
    engine: Engine = Engine.stream
    """How the probe runs (``"stream"``/``"submodels"`` are accepted)."""
    factory_args: Mapping[str, Any] | Sequence[str] | None = None
    """Keyword arguments for a factory: ``{"channels": 1}`` or ``["channels=1"]``."""
    inputs: Mapping[str, Any] | Sequence[Any] | str | None = None
    """Probe shapes without the batch axis: one shape, or by input name (see :func:`shapetrace.trace`)."""
    unsafe_load: bool = False
    """Let a saved model file run the code it carries. Only for files you trust."""
    imports: tuple[str, ...] = ()
    """The user's own code to import first (``"layers.py"``, ``"pkg.layers"``): it runs."""

    def __post_init__(self) -> None:
        # The two vocabularies become enums here, so every reader sees one type.
        for name, kind in (("pooling", Pooling), ("engine", Engine)):
            value = getattr(self, name)
            if value is None or isinstance(value, kind):
                continue
            try:
                object.__setattr__(self, name, kind(value))
            except ValueError:
                words = ", ".join(member.value for member in kind)
                raise UsageError(f"{name}={value!r} is not one of {words}.", param=name) from None
        # One file or module given as a plain string (or a Path) is one item, never its characters.
        imports = self.imports
        if isinstance(imports, (str, os.PathLike)):
            imports = (os.fspath(imports),)
        object.__setattr__(self, "imports", tuple(os.fspath(item) for item in imports or ()))

    @classmethod
    def merged(cls, options: TraceOptions | None, keywords: Mapping[str, Any]) -> TraceOptions:
        """``options`` (default: all defaults) with the fields in ``keywords`` replaced.

        Raises:
            TypeError: a keyword that is no field (a programming error, as for any function).
        """
        options = cls() if options is None else options
        unknown = sorted(set(keywords) - {f.name for f in fields(cls)})
        if unknown:
            names = ", ".join(f.name for f in fields(cls))
            raise TypeError(f"unexpected keyword argument {unknown[0]!r}; the trace options are: {names}")
        return replace(options, **keywords) if keywords else options
