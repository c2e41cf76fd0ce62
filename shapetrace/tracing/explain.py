"""Why a layer changed the channel count: the mechanism, detected from the layer itself.

Nothing here looks up model or layer names. Each rule checks its claim against
the shapes that really flowed (e.g. a broadcast is only reported when
broadcasting the input against that very weight yields the observed output), so
a mechanism that was not detected is never stated: the fallback is "other".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from shapetrace.records import LayerTrace, Shape, Trace, channels_of, format_shape

__all__ = ["explain_change", "explain_block", "verdict_text", "count_text", "MECHANISMS"]

MECHANISMS = (
    "conv",
    "depthwise",
    "dense",
    "recurrent",
    "embedding",
    "attention",
    "concat",
    "broadcast",
    "reshape",
    "other",
)

Explanation = tuple[str, str]  # (mechanism, why)


def count_text(n: int | None, word: str = "channel") -> str:
    """``1 channel``, ``3 channels``."""
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


def _class_names(layer: Any) -> tuple[str, ...]:
    return tuple(cls.__name__ for cls in type(layer).__mro__)


def _kernel_shape(layer: Any) -> tuple[int, ...] | None:
    shape = getattr(getattr(layer, "kernel", None), "shape", None)
    try:
        return None if shape is None else tuple(int(d) for d in shape)
    except (TypeError, ValueError):
        return None


def _recurrent_size(layer: Any) -> tuple[str, int] | None:
    """``("units", 64)`` or ``("filters", 8)`` of an RNN layer (ConvLSTM counts filters).

    ``RNN(cell)`` keeps the size on its cell; stacked cells output their last cell's.
    """
    cell = getattr(layer, "cell", None)
    cells = getattr(cell, "cells", None)
    for owner in (layer, cell, cells[-1] if cells else None):
        for word in ("units", "filters"):
            value = getattr(owner, word, None)
            if isinstance(value, int) and not isinstance(value, bool):
                return word, value
    return None


def _recurrent(layer: Any, inputs: tuple[Shape, ...], out: Shape) -> Explanation | None:
    if "RNN" not in _class_names(layer):
        return None
    size = _recurrent_size(layer)
    if size is None or channels_of(out) != size[1]:
        return None
    word, value = size
    return "recurrent", f"{type(layer).__name__} with {word}={value}"


_MERGED = {"sum": "summed", "ave": "averaged", "mul": "multiplied"}


def _bidirectional(layer: Any, inputs: tuple[Shape, ...], out: Shape) -> Explanation | None:
    forward, backward = getattr(layer, "forward_layer", None), getattr(layer, "backward_layer", None)
    if forward is None or backward is None:
        return None
    forward_size, backward_size = _recurrent_size(forward), _recurrent_size(backward)
    if forward_size is None or backward_size is None:
        return None
    (word, n_forward), (_, n_backward) = forward_size, backward_size
    merge, target, kind = getattr(layer, "merge_mode", "concat"), channels_of(out), type(forward).__name__
    if merge == "concat" and target == n_forward + n_backward:
        parts = f"2 × {n_forward}" if n_forward == n_backward else f"{n_forward} + {n_backward}"
        return "recurrent", f"Bidirectional {kind} with {word}={n_forward}: {parts} concatenated"
    if merge in _MERGED and n_forward == n_backward == target:
        return "recurrent", f"Bidirectional {kind} with {word}={n_forward}: both directions {_MERGED[merge]}"
    if merge is None and target == n_forward:  # both directions returned; the first is the forward one
        return "recurrent", f"Bidirectional {kind} with {word}={n_forward} (forward output)"
    return None


def _time_distributed(layer: Any, inputs: tuple[Shape, ...], out: Shape) -> Explanation | None:
    inner = getattr(layer, "layer", None)
    if "TimeDistributed" not in _class_names(layer) or inner is None:
        return None
    sequence = inputs[0]
    if len(sequence) < 3 or len(out) < 3 or sequence[0] is None or sequence[1] is None:
        return None
    samples = sequence[0] * sequence[1]
    # The wrapped layer sees every (sample, step) as one sample: explain it on those shapes.
    found = _first_rule((inner,), ((samples, *sequence[2:]),), (samples, *out[2:]))
    if found is None:
        return None
    mechanism, why = found
    return mechanism, f"{why}, applied at each of {sequence[1]} steps"


def _embedding(layer: Any, inputs: tuple[Shape, ...], out: Shape) -> Explanation | None:
    size = getattr(layer, "output_dim", None)
    if "Embedding" not in _class_names(layer) or not isinstance(size, int) or len(inputs) != 1:
        return None
    # Each id becomes a vector: the input's shape with one axis of `output_dim` appended.
    if tuple(out) != (*inputs[0], size):
        return None
    return (
        "embedding",
        f"{type(layer).__name__} with output_dim={size}: each token id becomes a {size}-vector",
    )


def _einsum(layer: Any, inputs: tuple[Shape, ...], out: Shape) -> Explanation | None:
    equation, kernel = getattr(layer, "equation", None), _kernel_shape(layer)
    if "EinsumDense" not in _class_names(layer) or not isinstance(equation, str) or kernel is None:
        return None
    operands, _, result = equation.replace(" ", "").partition("->")
    terms = operands.split(",")
    if len(terms) != 2 or not result or len(terms[1]) != len(kernel):
        return None
    last = result[-1]  # the output's last axis comes from the kernel, not the input
    if last not in terms[1] or last in terms[0] or kernel[terms[1].index(last)] != channels_of(out):
        return None
    return "dense", f"EinsumDense {equation!r}: the kernel's {last!r} axis gives {channels_of(out)}"


def _attention(layer: Any, inputs: tuple[Shape, ...], out: Shape) -> Explanation | None:
    names, target = _class_names(layer), channels_of(out)
    heads = getattr(layer, "num_heads", None)
    if "MultiHeadAttention" in names and isinstance(heads, int):
        projection = _kernel_shape(getattr(layer, "output_dense", None))
        if projection is None or projection[-1] != target:
            return None  # the output is the output projection's: say nothing we did not see
        key_dim = getattr(layer, "key_dim", None)
        return "attention", f"attention output projected to {target} (num_heads={heads}, key_dim={key_dim})"
    if "Attention" in names and len(inputs) >= 2 and channels_of(inputs[1]) == target:
        return "attention", f"weighted sum of the values' {target} features"
    return None


def _concat(layer: Any, inputs: tuple[Shape, ...], out: Shape) -> Explanation | None:
    if len(inputs) < 2:
        return None
    axis = getattr(layer, "axis", -1)
    rank = len(out)
    if axis not in (-1, rank - 1):
        return None
    maybe_parts = [channels_of(s) for s in inputs]
    parts = [p for p in maybe_parts if p is not None]
    if len(parts) != len(maybe_parts) or sum(parts) != channels_of(out):
        return None
    return "concat", f"concatenation of {len(parts)} inputs: {' + '.join(map(str, parts))} = {sum(parts)}"


def _broadcast_shape(*shapes: Shape) -> Shape | None:
    try:
        return tuple(np.broadcast_shapes(*[tuple(d if d is not None else 1 for d in s) for s in shapes]))
    except ValueError:
        return None


def _tensor_attributes(layer: Any) -> Iterator[tuple[str, tuple[int, ...]]]:
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
    if len(inputs) != 1:
        return None
    before, after = _volume(inputs[0]), _volume(out)
    if before is not None and before == after:
        return "reshape", (
            f"same {after:,} values rearranged: {format_shape(inputs[0])} → {format_shape(out)}"
        )
    return None


def _volume(shape: Shape) -> int | None:
    """How many values a tensor of ``shape`` holds (``None`` when a dimension is unknown)."""
    known = [d for d in shape if d is not None]
    return math.prod(known) if len(known) == len(shape) else None


# Tried in order; the first rule whose claim holds for the observed shapes wins.
RULES: tuple[Callable[[Any, tuple[Shape, ...], Shape], Explanation | None], ...] = (
    _recurrent,  # before _dense and _conv: an LSTM has `units`, a ConvLSTM2D `filters`
    _bidirectional,
    _time_distributed,
    _embedding,
    _conv,
    _depthwise,
    _dense,
    _einsum,
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
    found = _first_rule((layer,), inputs, out)
    if found is not None:
        return found
    shapes = ", ".join(format_shape(s) for s in inputs)
    return "other", f"{shapes} → {format_shape(out)}"


def _first_rule(layers: tuple[Any, ...], inputs: tuple[Shape, ...], out: Shape) -> Explanation | None:
    if not inputs:
        return None
    for layer in layers:
        for rule in RULES:
            found = rule(layer, inputs, out)
            if found is not None:
                return found
    return None


def explain_block(layer: Any, inputs: tuple[Shape, ...], out: Shape, inner: Sequence[Any]) -> Explanation:
    """Why a layer that was opened into sublayer calls (a custom block) changed the last axis.

    Only the calls observed inside are evidence: the block's own attributes (a ``units`` of its
    own, the weights of its sublayers) prove nothing about what its ``call`` did with them.

    Args:
        layer: the block.
        inputs, out: the block call's input shapes and output shape.
        inner: the rows (:class:`~shapetrace.records.LayerTrace`) of the calls made inside
            this call, in execution order.

    Returns:
        ``(mechanism, "set inside by `name` (Type): why")`` naming the sublayer call that last
        changed the last axis, when that change gave the block's output axis and the last call
        inside ends with it; else ``("other", "in → out")``.
    """
    target = channels_of(out)
    if inner and inner[-1].channels_out == target:
        changes = [row for row in reversed(inner) if row.channels_changed]
        # The call that took the block's own input there (a patch Conv2D), not one fed by
        # something the block made itself (a position Embedding looked up by ``arange``).
        from_input = [
            r for r in changes if r.channels_out == target and r.channels_in == channels_of(inputs[0])
        ]
        last_change = from_input[0] if from_input else next(iter(changes), None)
        if (
            last_change is not None
            and last_change.channels_out == target
            and last_change.why
            and last_change.mechanism not in (None, "other")
        ):
            if last_change.why.startswith(_SET_INSIDE):  # a nested block already names its sublayer
                return last_change.mechanism, last_change.why
            return (
                last_change.mechanism,
                f"{_SET_INSIDE}`{last_change.name}` ({last_change.type}): {last_change.why}",
            )
    shapes = ", ".join(format_shape(s) for s in inputs)
    return "other", f"{shapes} → {format_shape(out)}"


_SET_INSIDE = "set inside by "


def _first_change(trace: Trace) -> LayerTrace | None:
    probe_c = channels_of(trace.probe.shape)
    return next(
        (
            l
            for l in trace.changes
            if l.index > 0 and (not trace.probe.image_like or l.channels_in == probe_c)
        ),
        None,
    )


def _axis_sentence(trace: Trace, first: LayerTrace | None) -> str | None:
    """The first change of the last axis, in the words of a non-image input."""
    if first is None:
        return None
    probe = trace.probe
    if probe.kind == "tokens":
        return (
            f"The token ids ({probe.shape[-1]} per sequence) become {count_text(first.channels_out, 'feature')} "
            f"at `{first.name}` ({first.type}): {first.why}."
        )
    return (
        f"The last axis ({count_text(channels_of(probe.shape), 'feature')}) first changes at `{first.name}` "
        f"({first.type}): {first.why}."
    )


def _leading_probe_first(trace: Trace) -> Trace:
    """With several inputs, the story follows the input on whose path the last axis first changes
    (Whisper's audio frames into its Conv1D, not its decoder's padding mask listed first)."""
    if len(trace.probes) < 2:
        return trace
    for row in trace.changes:
        on_path = [p for p in trace.probes if p.name in row.sources]
        if row.index == 0 or not on_path:
            continue
        lead = next((p for p in on_path if channels_of(p.shape) == row.channels_in), on_path[0])
        return replace(trace, probes=(lead, *(p for p in trace.probes if p is not lead)))
    return trace


def verdict_text(trace: Trace) -> str:
    """The trace's verdict in plain words ("channels" only for inputs that feed convolutions)."""
    sentences: list[str] = []
    trace = _leading_probe_first(trace)
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
        if sentence and first is not None and (trace.broken is None or first.index < trace.broken.index):
            sentences.append(sentence)
    if trace.broken is not None:
        b = trace.broken
        sentences.append(f"The probe breaks at `{b.layer}` ({b.type}): {b.summary.rstrip('.')}.")
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
            f"{count_text(len(disagreements), 'layer')}: {shown}{more}."
        )
    return " ".join(sentences)


def _channel_sentences(trace: Trace, first: LayerTrace | None) -> list[str]:
    probe = trace.probe
    declared_c = channels_of(probe.declared)
    probe_c = probe.channels
    if probe_c != declared_c and declared_c is not None:
        if first is not None and (trace.broken is None or first.index < trace.broken.index):
            reading = (
                f"From there on the tensor has the {count_text(declared_c)} the model was declared for."
                if first.channels_out == declared_c
                else f"From there on the model works with {count_text(first.channels_out)}."
            )
            return [
                f"{count_text(probe_c)} becomes {first.channels_out} at `{first.name}` "
                f"({first.type}): {first.why}. {reading}"
            ]
        if trace.broken is not None:
            return [
                f"The probe's {count_text(probe_c)} {'reaches' if probe_c == 1 else 'reach'} `{trace.broken.layer.split('/')[-1]}` "
                f"({trace.broken.type}) unchanged, but the model was declared for {declared_c}."
            ]
        return []
    if first is not None:
        return [
            f"The probe matches the declared {count_text(declared_c)}; the first change is at "
            f"`{first.name}` ({first.type}): {first.why}."
        ]
    return []
