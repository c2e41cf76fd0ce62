"""Frozen records that a trace returns: built whole, never mutated, JSON via ``to_dict``.

Shapes are tuples of ``int | None`` (``None`` for a dimension the graph leaves
open); actual shapes always include the batch dimension.

``from_dict`` beside every ``to_dict`` reads the JSON back into records, validating as it
goes (:mod:`shapetrace._fields`): anything that does not fit raises one :class:`UsageError` line naming the field
(``layers[3].output: expected a shape (a list of whole numbers and nulls) or null, got 'x'``).
Fields a reader can compute (``channels_in``, ``verdict``, ``changes``, …) are not read back.
The summary prose and cost totals of the published JSON are functions of a trace, assembled by
:func:`shapetrace.tracing.report.trace_document`: this module imports nothing that computes or writes prose.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from shapetrace import _fields as F
from shapetrace.display import Displayable
from shapetrace.errors import UsageError

__all__ = [
    "Shape",
    "Probe",
    "Boundary",
    "Break",
    "LayerTrace",
    "Request",
    "Trace",
    "SCHEMA",
    "channels_of",
    "format_shape",
    "shapes_compatible",
]

SCHEMA = "shapetrace.trace/1"

Shape = tuple[int | None, ...]


def channels_of(shape: Shape | None) -> int | None:
    """The channel count of a channels-last shape: its last axis (None for scalars)."""
    if shape is None or len(shape) < 2:
        return None
    return shape[-1]


def format_shape(shape: Shape | None) -> str:
    """``(1, 128, 128, 3)``; ``None`` dims print as ``None`` like Keras does."""
    if shape is None:
        return "-"
    if len(shape) == 1:
        return f"({shape[0]},)"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _shape_list(shape: Shape | None) -> list[int | None] | None:
    return None if shape is None else list(shape)


def shapes_compatible(declared: Shape | None, actual: Shape | None) -> bool:
    """``actual`` fits ``declared``: same rank, equal wherever both fix a dimension.

    ``None`` is an unknown dimension on either side, and an unknown cannot contradict
    anything: ``(None, 8)`` fits ``(1, 8)`` and ``(1, 8)`` fits ``(None, 8)``. (The baseline
    diff once had its own copy that agreed; this one used to refuse a ``None`` in ``actual``
    under a fixed ``declared`` dimension, which made a model built with a fixed batch look
    as if the batch-free probe ``(None, *dims)`` did not fit it.) A missing shape (``None``
    as a whole: the row that broke) fits only another missing one.
    """
    if declared is None or actual is None:
        return declared is None and actual is None
    if len(declared) != len(actual):
        return False
    return all(d is None or a is None or d == a for d, a in zip(declared, actual))


@dataclass(frozen=True)
class Probe:
    """The real tensor fed to one model input."""

    name: str
    """The model input it feeds (Keras's input name)."""
    shape: Shape
    """Full shape including the batch dimension, e.g. ``(1, 128, 128, 1)``."""
    declared: Shape
    """What the model declares for this input, e.g. ``(None, 128, 128, 3)``."""
    kind: str = "image"
    """What the input is, which decides the words used for its axes: ``image`` and
    ``signal`` (they feed convolutions: the last axis is *channels*), ``sequence``
    (length × features), ``features`` (a vector: the last axis), ``tokens`` (ids)."""
    dtype: str = "float32"

    @property
    def image_like(self) -> bool:
        """The last axis is a channel axis (the input feeds convolutions)."""
        return self.kind in ("image", "signal")

    @property
    def channels(self) -> int | None:
        """The probe's channels; ``None`` for an input that has none (a sequence, tokens…)."""
        return channels_of(self.shape) if self.image_like else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "channels": self.channels,
            "declared": _shape_list(self.declared),
            "kind": self.kind,
            "dtype": self.dtype,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "probe") -> Probe:
        """Read a probe back from its JSON (``channels`` is computed, not read).

        Raises:
            UsageError: a field that does not fit, named by its path under ``where``.
        """
        fields = F.Fields(data, where)
        shape = fields.get("shape", F.SHAPE)
        declared = fields.get("declared", F.optional(F.SHAPE), None)
        return cls(
            name=fields.get("name", F.TEXT, ""),
            shape=shape,
            # As probes.py records an input that declares nothing: any batch, the probe's dims.
            declared=(None, *shape[1:]) if declared is None else declared,
            kind=fields.get("kind", F.NAME, "image"),
            dtype=fields.get("dtype", F.NAME, "float32"),
        )


@dataclass(frozen=True)
class Boundary:
    """What the model's own ``__call__`` does with the probe before any layer runs."""

    accepted: bool
    reason: str | None
    """Keras's own words when rejected; when accepted, a note if Keras adjusted the input."""

    def to_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "reason": self.reason}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "boundary") -> Boundary:
        """Read the boundary verdict back from its JSON.

        Raises:
            UsageError: a field that does not fit, named by its path under ``where``.
        """
        fields = F.Fields(data, where)
        return cls(
            accepted=fields.get("accepted", F.FLAG), reason=fields.get("reason", F.optional(F.TEXT), None)
        )


@dataclass(frozen=True)
class Break:
    """The layer call where the probe could not pass."""

    index: int
    """Row index of the failing call (its row ends the table)."""
    layer: str
    """Path of the failing layer, e.g. ``resnet50/conv1_conv``."""
    type: str
    expected: str
    """What the graph declared this layer's input to be."""
    received: str
    """What the probe actually brought."""
    message: str
    """Keras's (or TensorFlow's) own error, reduced to one line."""
    sources: tuple[str, ...] = ()
    """Model inputs whose probe reaches the failing call (only for models with several inputs)."""
    cause: str = "shape"
    """``shape`` when the shapes did not fit; ``call`` when they did (or say nothing) and the call
    failed for another reason — a missing argument, a structure, a dtype — told in ``message``."""

    @property
    def summary(self) -> str:
        """The break's reason in one phrase: the shapes when they are the reason, else Keras's words."""
        if self.cause == "shape":
            return f"expected {self.expected}, received {self.received}"
        return self.message or f"the call failed on {self.received}"

    def to_dict(self) -> dict[str, Any]:
        data = {
            "index": self.index,
            "layer": self.layer,
            "type": self.type,
            "expected": self.expected,
            "received": self.received,
            "message": self.message,
            "cause": self.cause,
        }
        if self.sources:
            data["sources"] = list(self.sources)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "broken") -> Break:
        """Read the break back from its JSON.

        Raises:
            UsageError: a field that does not fit, named by its path under ``where``.
        """
        fields = F.Fields(data, where)
        return cls(
            index=fields.get("index", F.WHOLE, 0),
            layer=fields.get("layer", F.TEXT),
            type=fields.get("type", F.TEXT, ""),
            expected=fields.get("expected", F.TEXT, ""),
            received=fields.get("received", F.TEXT, ""),
            message=fields.get("message", F.TEXT, ""),
            sources=fields.get("sources", F.NAMES, ()),
            cause=fields.get("cause", F.NAME, "shape"),
        )


_SHAPE_WORDS = re.compile(
    r"shape|rank|ndim|dimension|axis|axes|incompatible|broadcast|size|reshape|dims\b", re.IGNORECASE
)


def break_cause(message: str, declared: tuple[Shape | None, ...] | None, received: tuple[Shape, ...]) -> str:
    """``shape`` or ``call`` (see :attr:`Break.cause`): shapes that fit what the layer declares are
    never the reason; without a declaration, Keras's message says whether shapes are."""
    if declared and len(declared) == len(received) and all(map(shapes_compatible, declared, received)):
        return "call"
    return "shape" if _SHAPE_WORDS.search(message or "") else "call"


@dataclass(frozen=True)
class LayerTrace:
    """One executed layer call."""

    index: int
    """Position in execution order, starting at 0 with the model input."""
    path: str
    """Nested models joined by ``/``, e.g. ``sequential/efficientnetb5/normalization``."""
    name: str
    type: str
    depth: int
    """Nesting depth: 0 for the top model's own layers."""
    inputs: tuple[Shape, ...]
    """Actual shapes of every tensor the call received."""
    declared_output: Shape | None
    """The output shape Keras's graph declares for this call."""
    static_output: Shape | None
    """Keras's static shape inference (``compute_output_spec``) for the actual inputs.

    Where the actual inputs fit the declared ones this is the declared output (Keras
    inferred it for exactly those inputs when the graph was built; ``None`` marks the
    open batch dimension); elsewhere it is inferred afresh for the actual inputs."""
    output: Shape | None
    """The actual output shape; ``None`` on the row that broke."""
    params: int
    """Weights owned by this layer (0 for a repeated call of a shared layer)."""
    why: str | None = None
    """Why the channel count changed, when it did: the mechanism that was detected."""
    mechanism: str | None = None
    """One of :data:`shapetrace.tracing.explain.MECHANISMS`: ``conv``, ``depthwise``, ``dense``, ``recurrent``,
    ``embedding``, ``attention``, ``concat``, ``broadcast``, ``reshape`` or ``other``."""
    shared: bool = False
    """A second or later call of a layer already seen (its params count once)."""
    failed: bool = False
    """The call raised: this is the break row."""
    trainable_params: int = 0
    """The part of ``params`` that training updates (see :mod:`shapetrace.tracing.costs`)."""
    non_trainable_params: int = 0
    """The rest of ``params``: moving statistics, frozen layers."""
    macs: int | None = 0
    """Multiply-accumulates of this call for the probe's batch (what is counted: :mod:`shapetrace.tracing.costs`);
    ``None`` when unknown (a layer with weights and no counting rule), never guessed as 0."""
    activation_bytes: int = 0
    """Bytes of the tensors this call output (0 on the row that broke)."""
    sources: tuple[str, ...] = ()
    """Model inputs whose probe reaches this call (only for models with several inputs)."""
    container: bool = False
    """An opened user-defined layer or subclassed model: the rows under its path are the calls
    made inside it; this row shows the block's real input → output and carries only the
    weights none of those rows counts (see :mod:`shapetrace.tracing.recorder`)."""

    @property
    def channels_in(self) -> int | None:
        return channels_of(self.inputs[0]) if self.inputs else None

    @property
    def channels_out(self) -> int | None:
        return channels_of(self.output)

    @property
    def channels_changed(self) -> bool:
        return self.output is not None and self.channels_in != self.channels_out

    @property
    def differs_from_declared(self) -> bool:
        """Actual ≠ declared, comparing only the dimensions the graph fixed (no graph: never)."""
        if self.declared_output is None:
            return False
        return not shapes_compatible(self.declared_output, self.output)

    @property
    def static_disagrees(self) -> bool:
        """Keras's static inference and the real run disagree for the same input."""
        return (
            self.static_output is not None
            and self.output is not None
            and not shapes_compatible(self.static_output, self.output)
        )

    def to_dict(self) -> dict[str, Any]:
        data = {
            "index": self.index,
            "path": self.path,
            "name": self.name,
            "type": self.type,
            "depth": self.depth,
            "inputs": [list(s) for s in self.inputs],
            "declared_output": _shape_list(self.declared_output),
            "static_output": _shape_list(self.static_output),
            "output": _shape_list(self.output),
            "channels_in": self.channels_in,
            "channels_out": self.channels_out,
            "params": self.params,
            "trainable_params": self.trainable_params,
            "non_trainable_params": self.non_trainable_params,
            "macs": self.macs,
            "activation_bytes": self.activation_bytes,
            "shared": self.shared,
            "why": self.why,
            "mechanism": self.mechanism,
            "failed": self.failed,
        }
        if self.sources:
            data["sources"] = list(self.sources)
        if self.container:
            data["container"] = True
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "layer", index: int = 0) -> LayerTrace:
        """Read one layer call back from its JSON (``channels_in``/``channels_out`` are computed).

        ``index`` is the row's position, used when the JSON (a hand-written baseline) has none.

        Raises:
            UsageError: a field that does not fit, named by its path under ``where``.
        """
        fields = F.Fields(data, where)
        path = fields.get("path", F.NAME)
        return cls(
            index=fields.get("index", F.WHOLE, index),
            path=path,
            name=fields.get("name", F.TEXT, path.rsplit("/", 1)[-1]),
            type=fields.get("type", F.NAME),
            depth=fields.get("depth", F.WHOLE, 0),
            inputs=fields.get("inputs", F.SHAPES, ()),
            declared_output=fields.get("declared_output", F.optional(F.SHAPE), None),
            static_output=fields.get("static_output", F.optional(F.SHAPE), None),
            output=fields.get("output", F.optional(F.SHAPE), None),
            params=fields.get("params", F.WHOLE, 0),
            why=fields.get("why", F.optional(F.TEXT), None),
            mechanism=fields.get("mechanism", F.optional(F.TEXT), None),
            shared=fields.get("shared", F.FLAG, False),
            failed=fields.get("failed", F.FLAG, False),
            trainable_params=fields.get("trainable_params", F.WHOLE, 0),
            non_trainable_params=fields.get("non_trainable_params", F.WHOLE, 0),
            macs=fields.get("macs", F.optional(F.WHOLE), 0),
            activation_bytes=fields.get("activation_bytes", F.WHOLE, 0),
            sources=fields.get("sources", F.NAMES, ()),
            container=fields.get("container", F.FLAG, False),
        )


# Keys every request made by ``trace`` writes, in this order; the others follow only when given.
_ALWAYS = ("model", "channels", "size", "batch", "native", "top", "weights", "pooling")


@dataclass(frozen=True, eq=False)
class Request(Mapping[str, Any]):
    """How a trace's model was built and probed: enough to run the same trace again.

    It reads as the JSON object it writes (``trace.request["size"] == [224, 224]``,
    ``trace.request.get("model")``), and compares equal to that object; the fields hold the
    typed values (``trace.request.size == (224, 224)``).
    """

    model: str | None = None
    """An application key, a saved file or a factory spec (``None``: a model object was traced)."""
    channels: int | None = None
    """Probe channels as asked (``None``: the default)."""
    size: tuple[int, int] | None = None
    batch: int = 1
    native: bool = False
    top: bool = False
    weights: str | None = None
    """As given: ``"none"``, ``"imagenet"`` or a weights file."""
    pooling: str | None = None
    factory_args: dict[str, Any] | None = None
    """The factory's keyword arguments (``None``: none given, not written)."""
    imports: tuple[str, ...] | None = None
    """The user's code imported first (``None``: none, not written)."""
    inputs: dict[str, tuple[int, ...]] | None = None
    """Probe shapes by input name, without the batch axis (``None``: the model's own, not written)."""
    engine: str | None = None
    """The engine, as a baseline records it (``None``: not written)."""
    omitted: frozenset[str] = frozenset()
    """Keys of the first eight fields that are not written: those a hand-written baseline leaves
    out, or all of them for a model traced without a request (:meth:`empty`)."""

    @classmethod
    def empty(cls) -> Request:
        """The request of a trace that records none (``{}``)."""
        return cls(omitted=frozenset(_ALWAYS))

    @classmethod
    def of(cls, request: Request | Mapping[str, Any] | None) -> Request:
        """``request`` as a :class:`Request`: a mapping is read as JSON is, ``None`` is :meth:`empty`."""
        if request is None:
            return cls.empty()
        return request if isinstance(request, Request) else cls.from_dict(request)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {key: getattr(self, key) for key in _ALWAYS if key not in self.omitted}
        if data.get("size") is not None:
            data["size"] = list(data["size"])
        if self.factory_args is not None:
            data["factory_args"] = dict(self.factory_args)
        if self.imports is not None:
            data["imports"] = list(self.imports)
        if self.inputs is not None:
            data["inputs"] = {name: list(dims) for name, dims in self.inputs.items()}
        if self.engine is not None:
            data["engine"] = self.engine
        return data

    @classmethod
    def from_dict(cls, data: Any, where: str = "request") -> Request:
        """Read a request back, validating each key it holds (keys it does not know are dropped).

        Raises:
            UsageError: one line naming the key (``request.size: expected [height, width] or null, got [32]``).
        """
        fields = F.Fields(data, where)
        given = {
            key: fields.get(key, kind)
            for key, kind in F.REQUEST_FIELDS.items()
            if fields.raw(key) is not F.MISSING
        }
        return cls(**given, omitted=frozenset(key for key in _ALWAYS if key not in given))

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())


@dataclass(frozen=True)
class Trace(Displayable):
    """A whole trace: the probe, the boundary verdict, every layer call, the break."""

    model: str
    """The model's name (``efficientnetb5``)."""
    probes: tuple[Probe, ...]
    boundary: Boundary
    layers: tuple[LayerTrace, ...]
    broken: Break | None
    total_params: int
    """Unique weights of the model (equals ``model.count_params()``)."""
    seconds: float
    """Wall time of the layer walk (building the model not included)."""
    engine: str = "stream"
    peak_live_bytes: int = 0
    """Largest total size of tensors the engine held alive at once."""
    request: Request = field(default_factory=Request.empty)
    """How the model was built and probed: enough to run the same trace again (a mapping given
    here is read as :meth:`Request.from_dict` reads JSON)."""
    versions: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.request, Request):  # a plain dict, as before Request existed
            object.__setattr__(self, "request", Request.of(self.request))

    @property
    def verdict(self) -> str:
        return "ok" if self.broken is None and self.boundary.accepted else "broken"

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"

    @property
    def probe(self) -> Probe:
        return self.probes[0]

    @property
    def changes(self) -> tuple[LayerTrace, ...]:
        return tuple(layer for layer in self.layers if layer.channels_changed)

    @property
    def static_disagreements(self) -> tuple[LayerTrace, ...]:
        return tuple(layer for layer in self.layers if layer.static_disagrees)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "model": self.model,
            "request": self.request.to_dict(),
            "versions": dict(self.versions),
            "engine": self.engine,
            "probe": {
                "shape": list(self.probe.shape),
                "channels": self.probe.channels,
                "kind": self.probe.kind,
            },
            "probes": [p.to_dict() for p in self.probes],
            "boundary": self.boundary.to_dict(),
            "verdict": self.verdict,
            "layers": [layer.to_dict() for layer in self.layers],
            "changes": [layer.to_dict() for layer in self.changes],
            "static_disagreements": [layer.path for layer in self.static_disagreements],
            "broken": None if self.broken is None else self.broken.to_dict(),
            "totals": {
                "layers": len(self.layers),
                "params": self.total_params,
                "seconds": round(self.seconds, 3),
                "peak_live_bytes": self.peak_live_bytes,
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Trace:
        """Rebuild a trace from its JSON, validating every field it reads.

        ``Trace.from_dict(t.to_dict()).to_dict() == t.to_dict()``. What a reader can compute
        (``verdict``, ``probe``, ``changes``, ``channels_in``…) and what
        :func:`shapetrace.tracing.report.trace_document` adds (``summary``, ``costs``) is not read back;
        a field that is absent takes its default (hand-written baselines carry only what the
        comparison needs).

        Raises:
            UsageError: one line naming the field, what was expected and what was received,
                e.g. ``layers[3].output: expected a shape (…) or null, got 'x'``.
        """
        fields = F.Fields(data, "")
        fields.get("schema", F.one_of(SCHEMA), None)
        _require_whole(fields.get("view", F.optional(F.OBJECT), None))
        fields.get("verdict", F.one_of("ok", "broken"), None)
        probes = fields.records("probes", Probe.from_dict)
        if not probes:
            raise F.invalid("probes", "a non-empty list of probes", [])
        broken = fields.get("broken", F.optional(F.OBJECT), None)
        totals = F.Fields(fields.get("totals", F.OBJECT, {}), "totals")
        return cls(
            model=fields.get("model", F.TEXT, ""),
            probes=probes,
            boundary=Boundary.from_dict(fields.raw("boundary")),
            layers=tuple(
                LayerTrace.from_dict(item, f"layers[{i}]", i)
                for i, item in enumerate(fields.get("layers", F.LIST))
            ),
            broken=None if broken is None else Break.from_dict(broken),
            total_params=totals.get("params", F.WHOLE, 0),
            seconds=totals.get("seconds", F.SECONDS, 0.0),
            engine=fields.get("engine", F.ENGINE, "stream"),
            peak_live_bytes=totals.get("peak_live_bytes", F.WHOLE, 0),
            request=Request.from_dict(fields.get("request", F.OBJECT, {})),
            versions=fields.get("versions", F.VERSIONS, {}),
        )


def _require_whole(view: Mapping[str, Any] | None) -> None:
    """Refuse a document that shows part of a trace: read back, it would pass for the whole.

    ``shapetrace trace --format json`` records how its layers were chosen under ``view``; only the
    default (every row, every field) is a trace. The default columns are spelled out here rather
    than imported: records import nothing that selects or renders.
    """
    if view is None:
        return
    trimmed = [f"{name}={view.get(name)!r}" for name in ("depth", "layers") if view.get(name) is not None]
    if view.get("changes_only"):
        trimmed.append("changes_only=True")
    columns = view.get("columns")
    if columns is not None and tuple(columns) != _DEFAULT_VIEW_COLUMNS:
        trimmed.append(f"columns={','.join(map(str, columns))!r}")
    if trimmed:
        raise UsageError(
            f"This document shows part of a trace (view: {', '.join(trimmed)}): Trace.from_dict "
            "reads a whole trace; write it without choosing columns, depth, layers or changes only."
        )


# selection.DEFAULT_COLUMNS (tests/test_records_json.py keeps the two equal).
_DEFAULT_VIEW_COLUMNS = ("index", "layer", "type", "declared", "actual", "ch", "params", "macs", "why")
