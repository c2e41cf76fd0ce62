"""Why a layer changed the channel count: the mechanism, detected from the layer itself.

Nothing here looks up model or layer names. Each rule checks its claim against
the shapes that really flowed (e.g. a broadcast is only reported when
broadcasting the input against that very weight yields the observed output), so
a mechanism that was not detected is never stated: the fallback is "other".
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from shapetrace.records import Shape, Trace, channels_of, format_shape, shapes_compatible

__all__ = ["explain_change", "verdict_text", "break_hint", "MECHANISMS"]

MECHANISMS = ("conv", "depthwise", "dense", "attention", "concat", "broadcast", "reshape", "other")

Explanation = tuple[str, str]  # (mechanism, why)


def _count(n: int | None, word: str = "channel") -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _conv(layer: Any, inputs: tuple[Shape, ...], out: Shape) -> Explanation | None:
    filters = getattr(layer, "filters", None)
    if isinstance(filters, int) and channels_of(out) == filters:
        return "conv", f"{type(layer).__name__} with filters={filters}"
    return None


def _depthwise(layer: Any, inputs: tuple[Shape, ...], out: Shape) -> Explanation | None:
    multiplier = getattr(layer, "depth_multiplier", None)
    c_in = channels_of(inputs[0])
    if isinstance(multiplier, int) and c_in is not None and channels_of(out) == c_in * multiplier:
        return "depthwise", f"depthwise with depth_multiplier={multiplier}: {c_in} × {multiplier}"
    return None


def _dense(layer: Any, inputs: tuple[Shape, ...], out: Shape) -> Explanation | None:
    units = getattr(layer, "units", None)
    if isinstance(units, int) and channels_of(out) == units:
        return "dense", f"{type(layer).__name__} with units={units}"
    return None


def _attention(layer: Any, inputs: tuple[Shape, ...], out: Shape) -> Explanation | None:
    heads = getattr(layer, "num_heads", None)
    if not isinstance(heads, int):
        return None
    key_dim = getattr(layer, "key_dim", None)
    target = channels_of(out)
    return "attention", (
        f"attention output projected to {target} (num_heads={heads}, key_dim={key_dim})"
    )


def _concat(layer: Any, inputs: tuple[Shape, ...], out: Shape) -> Explanation | None:
    if len(inputs) < 2:
        return None
    axis = getattr(layer, "axis", -1)
    rank = len(out)
    if axis not in (-1, rank - 1):
        return None
    parts = [channels_of(s) for s in inputs]
    if None in parts or sum(parts) != channels_of(out):
        return None
    return "concat", f"concatenation of {len(parts)} inputs: {' + '.join(map(str, parts))} = {sum(parts)}"


def _broadcast_shape(*shapes: Shape) -> Shape | None:
    try:
        return tuple(np.broadcast_shapes(*[tuple(d if d is not None else 1 for d in s) for s in shapes]))
    except ValueError:
        return None


def _tensor_attributes(layer: Any):
    """Public tensor-valued attributes first (they carry the broadcast shape), then weights."""
    for name, value in vars(layer).items():
        if name.startswith("_") or isinstance(value, (str, bytes, bool, int, float)):
            continue
        shape = getattr(value, "shape", None)
        if shape is not None and hasattr(value, "dtype") and type(value).__name__ != "KerasTensor":
            try:
                yield name, tuple(int(d) for d in shape)
            except (TypeError, ValueError):
                continue
    for weight in getattr(layer, "weights", []):
        yield weight.name, tuple(int(d) for d in weight.shape)


def _broadcast(layer: Any, inputs: tuple[Shape, ...], out: Shape) -> Explanation | None:
    target = channels_of(out)
    if len(inputs) >= 2 and _broadcast_shape(*inputs) == tuple(out):
        shapes = " and ".join(format_shape(s) for s in inputs)
        return "broadcast", f"its inputs {shapes} broadcast to {target} channels"
    if len(inputs) != 1:
        return None
    for name, shape in _tensor_attributes(layer):
        if not shape or shape[-1] != target or shape[-1] == channels_of(inputs[0]):
            continue
        if _broadcast_shape(inputs[0], shape) == tuple(out):
            return "broadcast", f"the input broadcasts against its {name} of shape {format_shape(shape)}"
    return None


def _reshape(layer: Any, inputs: tuple[Shape, ...], out: Shape) -> Explanation | None:
    if len(inputs) != 1 or None in inputs[0] or None in out:
        return None
    if math.prod(inputs[0]) == math.prod(out):
        return "reshape", (
            f"same {math.prod(out):,} values rearranged: {format_shape(inputs[0])} → {format_shape(out)}"
        )
    return None


# Tried in order; the first rule whose claim holds for the observed shapes wins.
RULES: tuple[Callable[[Any, tuple[Shape, ...], Shape], Explanation | None], ...] = (
    _conv,
    _depthwise,
    _dense,
    _attention,
    _concat,
    _broadcast,
    _reshape,
)


def explain_change(layer: Any, inputs: tuple[Shape, ...], out: Shape) -> Explanation:
    """Name the mechanism by which ``layer`` turned ``inputs`` into ``out``.

    Returns:
        ``(mechanism, why)``; ``("other", "...")`` when no rule's claim holds.
    """
    for rule in RULES:
        found = rule(layer, inputs, out)
        if found is not None:
            return found
    shapes = ", ".join(format_shape(s) for s in inputs)
    return "other", f"{shapes} → {format_shape(out)}"


def _first_change(trace: Trace):
    probe_c = channels_of(trace.probe.shape)
    return next(
        (l for l in trace.changes if l.index > 0 and (not trace.probe.image_like or l.channels_in == probe_c)),
        None,
    )


def _axis_sentence(trace: Trace, first) -> str | None:
    """The first change of the last axis, in the words of a non-image input."""
    if first is None:
        return None
    probe = trace.probe
    if probe.kind == "tokens":
        return (
            f"The token ids ({probe.shape[-1]} per sequence) become {_count(first.channels_out, 'feature')} "
            f"at `{first.name}` ({first.type}): {first.why}."
        )
    return (
        f"The last axis ({_count(channels_of(probe.shape), 'feature')}) first changes at `{first.name}` "
        f"({first.type}): {first.why}."
    )


def verdict_text(trace: Trace) -> str:
    """The trace's verdict in plain words ("channels" only for inputs that feed convolutions)."""
    sentences: list[str] = []
    probe = trace.probe
    if not trace.boundary.accepted:
        sentences.append(
            f"Keras rejects the probe {format_shape(probe.shape)} at the model's input "
            f"({trace.boundary.reason}), so a plain model(x) call fails before any layer runs; "
            "the walk continues past that check to show where the graph itself would break."
        )
    elif trace.boundary.reason:
        sentences.append(f"At the model's input, {trace.boundary.reason}.")

    first = _first_change(trace)
    if probe.image_like:
        sentences.extend(_channel_sentences(trace, first))
    else:
        sentence = _axis_sentence(trace, first)
        if sentence and (trace.broken is None or first.index < trace.broken.index):
            sentences.append(sentence)
    if trace.broken is not None:
        b = trace.broken
        sentences.append(
            f"The probe breaks at `{b.layer}` ({b.type}): expected {b.expected}, received {b.received}."
        )
    elif trace.boundary.accepted:
        last = trace.layers[-1] if trace.layers else None
        if last is not None:
            sentences.append(f"The probe passes every layer; the output is {format_shape(last.output)}.")
    disagreements = trace.static_disagreements
    if disagreements:
        shown = ", ".join(
            f"`{l.name}` (static {format_shape(l.static_output)}, real {format_shape(l.output)})"
            for l in disagreements[:3]
        )
        more = f" and {len(disagreements) - 3} more" if len(disagreements) > 3 else ""
        sentences.append(
            f"Keras's static shape inference disagrees with the real run at "
            f"{_count(len(disagreements), 'layer')}: {shown}{more}."
        )
    return " ".join(sentences)


def _channel_sentences(trace: Trace, first) -> list[str]:
    probe = trace.probe
    declared_c = channels_of(probe.declared)
    probe_c = probe.channels
    if probe_c != declared_c and declared_c is not None:
        if first is not None and (trace.broken is None or first.index < trace.broken.index):
            reading = (
                f"From there on the tensor has the {_count(declared_c)} the model was declared for."
                if first.channels_out == declared_c
                else f"From there on the model works with {_count(first.channels_out)}."
            )
            return [
                f"{_count(probe_c)} becomes {first.channels_out} at `{first.name}` "
                f"({first.type}): {first.why}. {reading}"
            ]
        if trace.broken is not None:
            return [
                f"The probe's {_count(probe_c)} {'reaches' if probe_c == 1 else 'reach'} `{trace.broken.layer.split('/')[-1]}` "
                f"({trace.broken.type}) unchanged, but the model was declared for {declared_c}."
            ]
        return []
    if first is not None:
        return [
            f"The probe matches the declared {_count(declared_c)}; the first change is at "
            f"`{first.name}` ({first.type}): {first.why}."
        ]
    return []


def _is_application(trace: Trace) -> bool:
    from shapetrace.applications import APPLICATIONS  # data only

    return trace.request.get("model") in APPLICATIONS


def _dims_text(shape) -> str:
    return "x".join("N" if d is None else str(d) for d in shape)


def break_hint(trace: Trace) -> str | None:
    """What would work instead, for a probe that breaks (``None`` when it passes or nothing applies).

    Names only what applies to this model: ``--native`` and ``shapetrace train`` for a
    ``keras.applications`` model; ``--input`` with the declared shape for the user's own.
    """
    if trace.ok:
        return None
    probe = trace.probe
    if _is_application(trace):
        declared_c = channels_of(probe.declared)
        if probe.channels == declared_c:
            return None
        return (
            f"Try --channels {declared_c} (what the model declares), --native (build the model for "
            f"{_count(probe.channels)}), or adapt the data explicitly: shapetrace train --adapt repeat."
        )
    misfits = [p for p in trace.probes if not shapes_compatible(p.declared, (None, *p.shape[1:]))]
    if not misfits:
        return None  # the probe is what the model declares: the break is in the model itself
    if len(trace.probes) == 1:
        return f"The model declares {format_shape(probe.declared)}: try --input {_dims_text(probe.declared[1:])}."
    return "The model declares " + ", ".join(
        f"{p.name} {format_shape(p.declared)}" for p in misfits
    ) + ": try " + " ".join(f"--input {p.name}={_dims_text(p.declared[1:])}" for p in misfits) + "."
