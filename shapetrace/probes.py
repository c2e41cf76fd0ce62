"""The probe: what each model input is (image, signal, sequence, features, tokens) and the tensor fed to it.

Rules (the README's "Trace your own model" has them in prose):

* the shape comes from the model's declared input (its ``Input`` layer, or for a built
  subclassed model the shape Keras recorded when it was first called), with ``--input``
  (whole shapes, any rank), ``--size`` and ``--channels`` applied where they mean
  something for that kind of input, and refused where they do not;
* the dtype is the input's own; an integer input, or one that feeds an ``Embedding``,
  gets valid token ids in ``[0, input_dim)`` (the smallest ``input_dim`` it feeds);
  other inputs get seeded image-like values in ``[0, 255)``, made directly in their dtype;
* a probe that would not fit in memory is refused before anything is allocated.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from shapetrace.errors import UsageError
from shapetrace.records import Probe, Shape, format_shape

__all__ = [
    "InputSlot",
    "CHANNEL_KINDS",
    "KINDS",
    "UNNAMED",
    "describe_inputs",
    "make_probes",
    "probe_bytes",
    "validate_probe_memory",
    "available_memory",
]

PROBE_SEED = 0
KINDS = ("image", "signal", "sequence", "features", "tokens")
CHANNEL_KINDS = ("image", "signal")
"""Kinds whose last axis is called channels (they feed convolutions)."""
UNNAMED = ""
"""The key of an ``--input SHAPE`` given without a name (single-input models)."""
# The walk holds the probe plus at least one activation (usually larger): a probe above
# this share of the available memory cannot be traced.
MEMORY_SHARE = 0.5
MAX_DIM = 2**31 - 1  # TensorFlow indexes dimensions with 32-bit integers in many kernels


@dataclass(frozen=True)
class InputSlot:
    """One model input as the probe sees it."""

    name: str
    """The input layer's name (``image``), or the ``call`` argument's for a subclassed model."""
    tensor_name: str
    declared: Shape | None
    """With ``None`` for the batch axis; ``None`` when the model was never built."""
    dtype: str
    kind: str
    token_limit: int | None = None
    """Token ids are drawn from ``[0, token_limit)``."""


def _conv_style(layer: Any) -> bool:
    return "Conv" in type(layer).__name__


def _embeddings(layers: Iterable[Any]) -> list[Any]:
    return [layer for layer in layers if type(layer).__name__ == "Embedding"]


def _kind(rank: int, dtype: str, direct: Iterable[Any], reachable: Iterable[Any]) -> tuple[str, int | None]:
    """``rank`` counts the batch axis."""
    embeddings = _embeddings(direct)
    integer = "int" in dtype or dtype == "bool"
    if embeddings or integer:
        limit = min(int(e.input_dim) for e in embeddings) if embeddings else 2
        return "tokens", limit
    if rank >= 4:  # spatial axes and a channel axis, whatever consumes them
        return "image", None
    if rank == 3:
        return ("signal" if any(_conv_style(layer) for layer in reachable) else "sequence"), None
    return "features", None


def describe_inputs(model: Any, given: Mapping[str, tuple[int, ...]] | None = None) -> list[InputSlot]:
    """Every input of ``model``: name, declared shape, dtype and kind.

    A model never built has no declared input; one slot per shape ``given`` (the
    ``--input`` shapes) is described instead, and none when nothing is given.
    """
    from shapetrace import _keras_graph as kg

    inputs = kg.model_inputs(model)
    if inputs:
        names = kg.input_layer_names(model)
        direct, reachable = kg.input_consumers(model)
        slots = []
        for i, ref in enumerate(inputs):
            dtype = kg.keras.backend.standardize_dtype(ref.dtype)
            if dtype == "string":  # a probe is numbers; a text input has no probe tensor to make
                raise UsageError(
                    f"Input {names[i]!r} takes strings (dtype 'string'): shapetrace's probe is a "
                    "numeric tensor; trace the model that follows the text preprocessing (the "
                    "StringLookup/TextVectorization output) instead."
                )
            kind, limit = _kind(len(ref.shape), dtype, direct[i], reachable[i])
            slots.append(
                InputSlot(names[i], getattr(ref, "name", names[i]), tuple(ref.shape), dtype, kind, limit)
            )
        return slots
    # A subclassed model (or a Sequential without an Input): no graph says what feeds what.
    every = kg.sublayers(model)
    built = kg.built_input_shapes(model)
    shapes = [(None, *s[1:]) for s in built] if built else [(None, *dims) for dims in (given or {}).values()]
    arg_names = kg.call_argument_names(model) or ["inputs"]
    dtype = kg.keras.backend.standardize_dtype(getattr(model, "input_dtype", None) or "float32")
    slots = []
    for i, shape in enumerate(shapes):
        name = arg_names[0] if len(shapes) == 1 else f"{arg_names[0]}_{i}"
        # No graph says what the input feeds: a (batch, length) input of a model holding an
        # Embedding is taken for token ids.
        kind, limit = _kind(len(shape), dtype, every if len(shape) == 2 else [], every)
        slots.append(InputSlot(name, name, shape if built else None, dtype, kind, limit))
    return slots


def _match(overrides: Mapping[str, tuple[int, ...]], slots: list[InputSlot]) -> dict[int, tuple[int, ...]]:
    """``{"image": (64, 64, 1)}`` → ``{input index: dims}``, by tensor or input-layer name."""
    matched: dict[int, tuple[int, ...]] = {}
    described = ", ".join(f"{s.name} {format_shape(s.declared)}" for s in slots)
    for key, dims in overrides.items():
        if key == UNNAMED:
            if len(slots) != 1:
                raise UsageError(
                    f"inputs={'x'.join(map(str, dims))} names no input, but the model has {len(slots)}: "
                    f"{described}; give NAME=SHAPE for each.",
                    param="inputs",
                )
            found = [0]
        else:
            found = [i for i, s in enumerate(slots) if key in (s.name, s.tensor_name)]
        if not found:
            raise UsageError(
                f"inputs[{key!r}]=…: the model has no input named {key!r}; its inputs are {described}.",
                param="inputs",
            )
        i = found[0]
        declared = slots[i].declared
        if declared is not None and len(dims) != len(declared) - 1:
            label = f"[{key!r}]=" if key else "="
            raise UsageError(
                f"inputs{label}{'x'.join(map(str, dims))}: {slots[i].name!r} declares {tuple(declared)}, "
                f"so give {len(declared) - 1} dimensions (without the batch axis).",
                param="inputs",
            )
        matched[i] = tuple(dims)
    return matched


def _apply_size(slot: InputSlot, dims: list, size: tuple[int, int]) -> bool:
    """Set the spatial size or sequence length ``--size`` asks for; ``False`` if it does not apply."""
    if slot.kind in ("image",) and len(dims) == 3:
        dims[0], dims[1] = size
        return True
    if slot.kind in ("signal", "sequence", "tokens") and len(dims) in (1, 2):
        length = size[0]
        if size[0] != size[1]:
            raise UsageError(
                f"size={size[0]}x{size[1]}: input {slot.name!r} is a {slot.kind} {format_shape(slot.declared)}, "
                f"whose size is one length: give size={size[0]}.",
                param="size",
            )
        if dims[0] is not None:
            raise UsageError(
                f"size={length}: input {slot.name!r} declares a fixed length of {dims[0]} "
                f"{format_shape(slot.declared)}, so its length cannot change; to probe it anyway, use "
                f"inputs={'x'.join(str(d) for d in [length, *dims[1:]])}.",
                param=("size", "inputs"),
            )
        dims[0] = length
        return True
    return False


def make_probes(
    model: Any,
    *,
    channels: int | None,
    size: tuple[int, int] | None,
    batch: int,
    inputs: Mapping[str, tuple[int, ...]] | None = None,
    available: int | None = None,
) -> tuple[list[Probe], list[np.ndarray]]:
    """One probe per model input (see the module doc for the rules).

    Args:
        available: bytes of memory the probe may use half of (default: read from the system).

    Raises:
        UsageError: an option that does not apply to this model's inputs, an unknown
            dimension nobody filled in, a model never built without ``inputs``, or a
            probe too large for memory.
    """
    slots = describe_inputs(model, inputs)
    if not slots:
        raise UsageError(
            f"Model {model.name!r} was never built, so its input shape is unknown: pass inputs=SHAPE "
            "(without the batch axis, e.g. inputs=32x32x3 or inputs=200) to build it with the probe.",
            param="inputs",
        )
    overrides = _match(inputs or {}, slots)
    sized = channelled = False
    shapes = []
    for i, slot in enumerate(slots):
        if i in overrides:
            shapes.append((batch, *overrides[i]))
            continue
        assert slot.declared is not None  # only slots made from `inputs` lack one, and they are overridden
        dims = list(slot.declared[1:])
        if size is not None:
            sized |= _apply_size(slot, dims, size)
        if channels is not None and slot.kind in CHANNEL_KINDS and dims:
            dims[-1] = channels
            channelled = True
        if any(d is None for d in dims):
            template = (
                "HxWxC"
                if slot.kind == "image" and len(dims) == 3
                else "x".join("N" if d is None else str(d) for d in dims)
            )
            how = (
                f"pass inputs[{slot.name!r}]={template} for each input"
                if len(slots) > 1
                else "pass size=HxW (and channels=N)"
                if slot.kind == "image"
                else f"pass size=LENGTH or inputs={'x'.join('N' if d is None else str(d) for d in dims)}"
            )
            raise UsageError(
                f"Input {slot.name!r} declares {slot.declared} with unknown dimensions: {how} "
                "to say what to probe it with.",
                param=("inputs", "size", "channels"),
            )
        shapes.append((batch, *cast("list[int]", dims)))  # every dimension known (checked above)
    unfilled = [s for i, s in enumerate(slots) if i not in overrides]
    if size is not None and unfilled and not sized:
        raise UsageError(
            f"`size` applies to images and to sequences of open length; {_describe(unfilled)}: "
            "give the whole shape with `inputs` instead.",
            param=("size", "inputs"),
        )
    if channels is not None and unfilled and not channelled:
        raise UsageError(
            f"`channels` applies to image-like inputs (feeding convolutions); {_describe(unfilled)}: "
            "give the whole shape with `inputs` instead.",
            param=("channels", "inputs"),
        )
    for shape in shapes:
        if any(d > MAX_DIM for d in shape):
            raise UsageError(
                f"Probe shape {format_shape(shape)} has a dimension above {MAX_DIM:,}: use a smaller size."
            )
    validate_probe_memory(
        sum(probe_bytes(shape, slot.dtype) for shape, slot in zip(shapes, slots)),
        available_memory() if available is None else available,
        ", ".join(f"{format_shape(shape)} {slot.dtype}" for shape, slot in zip(shapes, slots)),
    )
    rng = np.random.default_rng(PROBE_SEED)
    probes = [
        Probe(
            name=slot.name,
            shape=shape,
            declared=slot.declared if slot.declared is not None else (None, *shape[1:]),
            kind=slot.kind,
            dtype=slot.dtype,
        )
        for slot, shape in zip(slots, shapes)
    ]
    arrays = [_values(rng, slot, shape) for slot, shape in zip(slots, shapes)]
    return probes, arrays


def _describe(slots: list[InputSlot]) -> str:
    return "; ".join(f"input {s.name!r} {format_shape(s.declared)} is {_article(s.kind)}" for s in slots)


def _article(kind: str) -> str:
    return {
        "features": "a feature vector",
        "tokens": "a token sequence",
        "sequence": "a sequence",
        "signal": "a signal",
        "image": "an image",
    }[kind]


def _values(rng: np.random.Generator, slot: InputSlot, shape: tuple[int, ...]) -> np.ndarray:
    if slot.kind == "tokens":
        ids = rng.integers(0, slot.token_limit or 2, size=shape, dtype=np.int32)
        return ids if slot.dtype == "int32" else ids.astype(_numpy_dtype(slot.dtype))
    dtype = _numpy_dtype(slot.dtype)
    if dtype in (np.float32, np.float64):
        # Image-like values: the shapes do not depend on them, but NaN-free data keeps every
        # layer on its ordinary code path. Made in the input's dtype, never float64 first.
        values = rng.random(size=shape, dtype=dtype)
        values *= 255.0
        return values
    return (rng.random(size=shape, dtype=np.float32) * 255.0).astype(dtype)


def _numpy_dtype(dtype: str) -> type[np.generic]:
    try:
        return np.dtype(dtype).type
    except TypeError:  # bfloat16: made as float32, converted by Keras
        return np.float32


def probe_bytes(shape: tuple[int, ...], dtype: str = "float32") -> int:
    """Bytes a probe of ``shape`` takes (Python integers: no overflow for absurd sizes)."""
    try:
        itemsize = np.dtype(dtype).itemsize
    except TypeError:
        itemsize = 2
    return math.prod(int(d) for d in shape) * itemsize


def validate_probe_memory(nbytes: int, available: int | None, what: str = "the probe") -> None:
    """Refuse a probe larger than :data:`MEMORY_SHARE` of the available memory (pure: no allocation).

    Raises:
        UsageError: with the figures.
    """
    if available is None or available <= 0:
        return
    if nbytes > available * MEMORY_SHARE:
        raise UsageError(
            f"The probe {what} needs {_bytes_text(nbytes)}, more than half of the "
            f"{_bytes_text(available)} of memory available, and the trace holds activations beside it: "
            "use a smaller `batch` or `size`.",
            param=("batch", "size"),
        )


def _bytes_text(n: int) -> str:
    from shapetrace.costs import format_bytes

    return format_bytes(n) if n < 10**12 else f"{n / 10**12:,.0f} TB"


def available_memory() -> int | None:
    """``MemAvailable`` from ``/proc/meminfo`` in bytes (``None`` where there is no such file)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None
