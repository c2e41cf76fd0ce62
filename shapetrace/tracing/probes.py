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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from shapetrace.errors import UsageError
from shapetrace.records import Probe, Shape, format_shape

__all__ = [
    "InputSlot",
    "CHANNEL_KINDS",
    "UNNAMED",
    "describe_inputs",
    "feed_arguments",
    "make_probes",
    "probe_bytes",
    "validate_probe_memory",
    "available_memory",
]

PROBE_SEED = 0
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
    """The input's name: its dict key, else the input layer's name (``image``), or for a
    subclassed model the ``call`` argument's (or the key of the dict that argument takes)."""
    tensor_name: str
    declared: Shape | None
    """With ``None`` for the batch axis; ``None`` when the model was never built."""
    dtype: str
    kind: str
    token_limit: int | None = None
    """Token ids are drawn from ``[0, token_limit)``."""
    where: tuple[Any, ...] = ()
    """A subclassed model's input: the ``call`` argument it is (``("image",)``), or its place in the
    structure that argument takes (``("inputs", "meta")``, ``("inputs", 1)``)."""


def _class_names(layer: Any) -> set[str]:
    return {cls.__name__ for cls in type(layer).__mro__}


def _conv_style(layer: Any) -> bool:
    return any("Conv" in name for name in _class_names(layer))


def _embeddings(layers: Iterable[Any]) -> list[Any]:
    # Subclasses too (KerasHub's ReversibleEmbedding): they look ids up all the same.
    return [layer for layer in layers if "Embedding" in _class_names(layer) and hasattr(layer, "input_dim")]


def _token_consumers(direct: Iterable[Any]) -> list[Any]:
    """The Embeddings that take this input as ids: a built-in one taking it directly, or one inside
    a user-defined layer taking it directly that holds no convolution (a ViT patch embedding holds a
    position ``Embedding`` beside the ``Conv2D`` that really takes the image)."""
    from shapetrace.tracing.recorder import is_user_defined

    found: list[Any] = []
    for layer in direct:
        if is_user_defined(layer) and hasattr(layer, "_flatten_layers"):
            from shapetrace.tracing import _keras_graph as kg

            inner = kg.sublayers(layer)
            if not any(_conv_style(sub) for sub in inner):
                found.extend(_embeddings(inner))
        else:
            found.extend(_embeddings([layer]))
    return found


def _kind(rank: int, dtype: str, direct: Iterable[Any], reachable: Iterable[Any]) -> tuple[str, int | None]:
    """``rank`` counts the batch axis; ``direct`` are the layers that take the input as it is."""
    direct = list(direct)
    if dtype == "string":  # raw strings for a StringLookup or a TextVectorization inside the model
        return "text", None
    integer = "int" in dtype or dtype == "bool"
    if not integer and rank >= 4:  # spatial axes and a channel axis, whatever consumes them
        return "image", None
    embeddings = _token_consumers(direct)
    if embeddings or integer:
        limit = min(int(e.input_dim) for e in embeddings) if embeddings else 2
        return "tokens", limit
    if rank == 3:
        return ("signal" if any(_conv_style(layer) for layer in reachable) else "sequence"), None
    return "features", None


def describe_inputs(model: Any, given: Mapping[str, tuple[int, ...]] | None = None) -> list[InputSlot]:
    """Every input of ``model``: name, declared shape, dtype and kind.

    A functional model's inputs are its ``Input`` layers, named by their dict key when it
    declares a dict. A subclassed model's are its ``call`` arguments that take tensors
    (named by the argument, or by the keys of the dict it takes), with the shapes Keras
    recorded when it was first called; one never built has a slot per shape ``given``
    (the ``--input`` shapes), and none when nothing is given.
    """
    from shapetrace.tracing import _keras_graph as kg

    inputs = kg.model_inputs(model)
    if inputs:
        names = kg.input_layer_names(model)
        paths = kg.input_paths(model)
        direct, reachable = kg.input_consumers(model)
        slots = []
        for i, ref in enumerate(inputs):
            dtype = kg.keras.backend.standardize_dtype(ref.dtype)
            kind, limit = _kind(len(ref.shape), dtype, direct[i], reachable[i])
            path = paths[i] if i < len(paths) else ()
            # A dict's key is the name a user feeds the input by (KerasHub: ``token_ids``).
            name = path[-1] if path and isinstance(path[-1], str) else names[i]
            slots.append(
                InputSlot(name, getattr(ref, "name", names[i]), tuple(ref.shape), dtype, kind, limit)
            )
        return slots
    return _subclassed_slots(model, given or {})


def _subclassed_slots(model: Any, given: Mapping[str, tuple[int, ...]]) -> list[InputSlot]:
    """A subclassed model (or a Sequential without an Input): no graph says what feeds what."""
    from shapetrace.tracing import _keras_graph as kg

    every = kg.sublayers(model)
    params = kg.call_argument_names(model) or ["inputs"]
    dtype = kg.keras.backend.standardize_dtype(getattr(model, "input_dtype", None) or "float32")
    built = kg.built_call_inputs(model) or {}
    if built:
        required = [p for p in kg.required_call_arguments(model) if p not in built]
        inferred = kg.argument_shapes_from_sublayers(model, built, required)
        built = {**built, **inferred}
        # Arguments Keras did not record: shapes the user gives by name, else unknown.
        built.update({p: None for p in required if p not in built})
        for p in [p for p in params if p not in built and p in given]:
            built[p] = None
        placed = _places(built)
    else:
        placed = _unbuilt_places(params, given)
    slots = []
    for where, shape in placed:
        name = (
            where[0]
            if len(where) == 1
            else str(where[-1])
            if isinstance(where[-1], str)
            else f"{where[0]}_{where[-1]}"
        )
        full = None if shape is None else (None, *tuple(shape)[1:])
        dims = full if full is not None else (None, *given.get(name, given.get("", ())))
        # No graph says what the input feeds: a (batch, length) input of a model holding an
        # Embedding (and no convolution) is taken for token ids.
        # With several inputs, which one the Embedding takes is unknown: none is assumed to.
        takers = every if len(dims) == 2 and len(placed) == 1 else []
        kind, limit = _kind(len(dims), dtype, takers, every)
        slots.append(InputSlot(name, name, full, dtype, kind, limit, where))
    return slots


def _places(built: Mapping[str, Any]) -> list[tuple[tuple[Any, ...], Any]]:
    """``{"inputs": {"image": s, "meta": t}}`` → ``[(("inputs", "image"), s), (("inputs", "meta"), t)]``."""
    placed: list[tuple[tuple[Any, ...], Any]] = []
    for param, value in built.items():
        if isinstance(value, Mapping):
            placed.extend(((param, key), shape) for key, shape in value.items())
        elif isinstance(value, (list, tuple)) and value and isinstance(value[0], (list, tuple)):
            placed.extend(((param, i), shape) for i, shape in enumerate(value))
        else:
            placed.append(((param,), value))
    return placed


def _unbuilt_places(
    params: list[str], given: Mapping[str, tuple[int, ...]]
) -> list[tuple[tuple[Any, ...], Any]]:
    """Where the shapes ``given`` for a model never built go: one per ``call`` argument when they
    name its arguments, else the keys of a dict passed as its first argument."""
    if not given:
        return []
    if set(given) == {UNNAMED}:
        return [((params[0],), None)]
    if all(name in params for name in given):
        return [((p,), None) for p in params if p in given]
    return [((params[0], name), None) for name in given]


def feed_arguments(
    model: Any, probes: Sequence[Probe], tensors: Sequence[Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The probe tensors as a user passes them to ``model(...)``: positional and keyword arguments.

    A functional model takes one argument in the structure it declares (a dict by key, a
    list, one tensor); a subclassed model one value per ``call`` argument (a tensor, or the
    dict / list that argument took when it was built).
    """
    from shapetrace.tracing import _keras_graph as kg

    if kg.model_inputs(model):
        return (kg.pack_inputs(model, list(tensors)),), {}
    slots = describe_inputs(model, {p.name: tuple(int(d or 0) for d in p.shape[1:]) for p in probes})
    by_name = dict(zip((p.name for p in probes), tensors))
    values: dict[str, Any] = {}
    for slot in slots:
        if slot.name not in by_name:
            continue
        tensor = by_name[slot.name]
        if len(slot.where) <= 1:
            values[slot.where[0] if slot.where else "inputs"] = tensor
        elif isinstance(slot.where[1], str):
            values.setdefault(slot.where[0], {})[slot.where[1]] = tensor
        else:
            values.setdefault(slot.where[0], []).append(tensor)
    if not values:  # nothing matched by name: the probes in order, as before
        return ((tensors[0] if len(tensors) == 1 else list(tensors)),), {}
    params = kg.call_argument_names(model) or list(values)
    args: list[Any] = []
    for param in params:  # leading arguments positionally, as a user writes model(image, meta)
        if param not in values:
            break
        args.append(values.pop(param))
    return tuple(args), values


def _match(
    overrides: Mapping[str, tuple[int, ...]], slots: list[InputSlot], note: str = ""
) -> dict[int, tuple[int, ...]]:
    """``{"image": (64, 64, 1)}`` → ``{input index: dims}``, by tensor or input-layer name."""
    matched: dict[int, tuple[int, ...]] = {}
    described = ", ".join(f"{s.name} {format_shape(s.declared)}" for s in slots)
    for key, dims in overrides.items():
        if key == UNNAMED:
            if len(slots) != 1:
                raise UsageError(
                    f"inputs={'x'.join(map(str, dims))} names no input, but the model has {len(slots)}: "
                    f"{described}; give NAME=SHAPE for each.{note}",
                    param="inputs",
                )
            found = [0]
        else:
            found = [i for i, s in enumerate(slots) if key in (s.name, s.tensor_name)]
        if not found:
            raise UsageError(
                f"inputs[{key!r}]=…: the model has no input named {key!r}; its inputs are {described}.{note}",
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
        raise UsageError(_never_built(model), param="inputs")
    overrides = _match(inputs or {}, slots, _structure_note(model) if inputs else "")
    _require_recorded_shapes(model, slots, overrides)
    shapes = _probe_shapes(slots, overrides, channels=channels, size=size, batch=batch)
    _refuse_oversized(shapes, slots, available)
    return _seeded_probes(slots, shapes)


def _require_recorded_shapes(model: Any, slots: list[InputSlot], overrides: Mapping[int, Any]) -> None:
    """Refuse a subclassed model's input whose shape Keras did not record and ``inputs`` does not give."""
    unknown = [s.name for i, s in enumerate(slots) if s.declared is None and i not in overrides]
    if unknown:
        raise UsageError(
            f"Model {model.name!r} takes {_names(s.name for s in slots)}, but Keras did not record the "
            f"shape of {_names(unknown)} when it was first called: pass "
            + " ".join(f"inputs[{n!r}]=SHAPE" for n in unknown)
            + " (without the batch axis).",
            param="inputs",
        )


def _probe_shapes(
    slots: list[InputSlot],
    overrides: Mapping[int, tuple[int, ...]],
    *,
    channels: int | None,
    size: tuple[int, int] | None,
    batch: int,
) -> list[tuple[int, ...]]:
    """Each input's probe shape: the one ``inputs`` gives, else its declared one with ``size`` and
    ``channels`` applied where they mean something (refused where they apply to no input)."""
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
            raise _unknown_dimensions(slot, dims, several=len(slots) > 1)
        shapes.append((batch, *cast("list[int]", dims)))  # every dimension known (checked above)
    unfilled = [s for i, s in enumerate(slots) if i not in overrides]
    _refuse_unapplied(
        unfilled, size=size is not None and not sized, channels=channels is not None and not channelled
    )
    return shapes


def _unknown_dimensions(slot: InputSlot, dims: list[int | None], *, several: bool) -> UsageError:
    """An input left with an unknown dimension, and the option that fills it in."""
    template = (
        "HxWxC"
        if slot.kind == "image" and len(dims) == 3
        else "x".join("N" if d is None else str(d) for d in dims)
    )
    how = (
        f"pass inputs[{slot.name!r}]={template} for each input"
        if several
        else "pass size=HxW (and channels=N)"
        if slot.kind == "image"
        else f"pass size=LENGTH or inputs={'x'.join('N' if d is None else str(d) for d in dims)}"
    )
    return UsageError(
        f"Input {slot.name!r} declares {slot.declared} with unknown dimensions: {how} "
        "to say what to probe it with.",
        param=("inputs", "size", "channels"),
    )


def _refuse_unapplied(unfilled: list[InputSlot], *, size: bool, channels: bool) -> None:
    """Refuse ``size`` / ``channels`` (``True``: given yet applied to no input) when some input
    takes its declared shape: they mean nothing for its kind."""
    if not unfilled:
        return
    if size:
        raise UsageError(
            f"`size` applies to images and to sequences of open length; {_describe(unfilled)}: "
            "give the whole shape with `inputs` instead.",
            param=("size", "inputs"),
        )
    if channels:
        raise UsageError(
            f"`channels` applies to image-like inputs (feeding convolutions); {_describe(unfilled)}: "
            "give the whole shape with `inputs` instead.",
            param=("channels", "inputs"),
        )


def _refuse_oversized(shapes: list[tuple[int, ...]], slots: list[InputSlot], available: int | None) -> None:
    """Refuse a dimension TensorFlow cannot index, or probes too large for ``available`` memory
    (``None``: read from the system)."""
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


def _seeded_probes(
    slots: list[InputSlot], shapes: list[tuple[int, ...]]
) -> tuple[list[Probe], list[np.ndarray]]:
    """The probe records and their values, drawn from one seeded generator in input order."""
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


def _names(names: Iterable[str]) -> str:
    return ", ".join(repr(n) for n in names)


def _never_built(model: Any) -> str:
    from shapetrace.tracing import _keras_graph as kg

    needed = kg.required_call_arguments(model) if not kg.model_inputs(model) else []
    if len(needed) > 1:
        return (
            f"Model {model.name!r} was never built, so its input shapes are unknown: its call takes "
            f"{_names(needed)}; pass "
            + " ".join(f"inputs[{n!r}]=SHAPE" for n in needed)
            + " (without the batch axis, e.g. inputs['image']=32x32x3) to build it with the probes."
        )
    return (
        f"Model {model.name!r} was never built, so its input shape is unknown: pass inputs=SHAPE "
        "(without the batch axis, e.g. inputs=32x32x3 or inputs=200) to build it with the probe; "
        "a call that takes a dict: inputs['KEY']=SHAPE for each key."
    )


def _structure_note(model: Any) -> str:
    """What a dict-input model expects, and Keras's trap for a list fed to it (empty otherwise)."""
    from shapetrace.tracing import _keras_graph as kg

    struct = kg.input_structure(model) if kg.model_inputs(model) else None
    if not isinstance(struct, Mapping) or len(struct) < 2:
        return ""
    declared = list(struct)
    note = f" It takes a dict with the keys {_names(declared)} (in the order it declares them)"
    if declared != sorted(declared):
        note += f"; a list fed to it is matched by sorted key ({_names(sorted(declared))}), not in that order"
    return note + "."


def _describe(slots: list[InputSlot]) -> str:
    return "; ".join(f"input {s.name!r} {format_shape(s.declared)} is {_article(s.kind)}" for s in slots)


def _article(kind: str) -> str:
    return {
        "features": "a feature vector",
        "tokens": "a token sequence",
        "sequence": "a sequence",
        "signal": "a signal",
        "image": "an image",
        "text": "a text input",
    }[kind]


def _values(rng: np.random.Generator, slot: InputSlot, shape: tuple[int, ...]) -> np.ndarray:
    if slot.kind == "text":  # any word will do: an unknown one is looked up as out-of-vocabulary
        return np.full(shape, "shapetrace", dtype=object)
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
    from shapetrace.tracing.costs import format_bytes

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
