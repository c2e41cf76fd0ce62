"""What each layer costs: parameters, multiply-accumulates (MACs) and output bytes, plus totals.

What a MAC is here: one multiplication of an input value by a weight (or by
another activation, in attention and matrix products) that is accumulated into
an output — the "multiply-adds" that architecture papers report. Counted, for
the batch the probe really had:

* convolutions of any rank, grouped (``groups=``), depthwise, separable (its
  depthwise and pointwise halves): ``output positions × kernel size``; transposed
  convolutions (1D/2D/3D): ``input positions × kernel size``, since each input
  value is scattered through the whole kernel (fvcore's convention);
* ``Dense`` on any rank (every leading position × kernel size) and ``EinsumDense``
  (the product of the sizes of every index in its equation: each output element
  accumulates over the contracted ones);
* recurrent layers — ``LSTM``, ``GRU``, ``SimpleRNN``, ``ConvLSTM1D/2D/3D`` and
  ``RNN`` over those cells (stacked too): at every time step of the probe the
  step's input meets ``kernel`` and the previous state meets ``recurrent_kernel``,
  so ``batch × steps × (size(kernel) + size(recurrent_kernel))`` (× output
  positions for ConvLSTM). Per step that is ``4·u·(d+u)`` for an LSTM, ``3·u·(d+u)``
  for a GRU with either ``reset_after`` (it moves the reset gate's element-wise
  product after the recurrent matmul and adds a second bias; the weights
  multiplied are the same) and ``u·(d+u)`` for a SimpleRNN. Every step of the
  probe is counted, masked or not, and also when only the last output is returned;
* ``Bidirectional``: both directions over the whole sequence (the merge —
  concat, sum, ave or mul — is element-wise and free); ``TimeDistributed``: the
  wrapped layer's own rule on ``batch × steps`` samples;
* ``MultiHeadAttention`` (query, key, value and output projections plus the
  ``QKᵀ`` scores and the weighted sum of values, per head, over its attention
  axes), ``GroupedQueryAttention`` (the same with shared key/value heads), the
  weight-free ``Attention`` layer (scores and weighted sum), and products of two
  activations: ``Dot``, ``keras.ops.matmul`` and two-operand ``keras.ops.einsum``.

Zero by convention, though they own weights: ``Embedding`` (a lookup, no
multiplication), normalization layers and ``PReLU``/``LayerScale`` (element-wise).
Zero because there is nothing to multiply by: every layer without weights that
has no rule above — activations, pooling, element-wise arithmetic (``Add``,
``Multiply``, ``Rescaling``), reshaping, resizing, softmax, dropout. Never
counted: bias additions and the element-wise gate products inside RNN cells.
Published figures count the same things, which is why they can be compared
(see ``docs/survey.md``).

Unknown (``None``, shown ``?``, never 0): a layer that owns weights and has no
rule here — a custom layer's own ``add_weight`` weights, an RNN over a cell this
module does not know, a wrapped foreign module. Totals then say how many layers
are unknown and are not ``complete``. A custom layer that the call recorder
opened into its sublayers costs the sum of its sublayer rows (its own row carries
only what no sublayer owns).

Nothing here imports Keras: layers are read through their public attributes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from shapetrace.records import Shape

__all__ = [
    "LayerCost",
    "CostTotals",
    "layer_cost",
    "count_macs",
    "split_params",
    "totals_of",
    "format_count",
    "format_bytes",
    "format_macs",
    "sum_macs",
    "op_macs",
    "block_macs",
    "MAC_FREE",
]

MAC_FREE = (
    "Embedding",
    "BatchNormalization",
    "LayerNormalization",
    "GroupNormalization",
    "RMSNormalization",
    "UnitNormalization",
    "Normalization",
    "PReLU",
    "LayerScale",
)
"""Layer types that own weights yet multiply nothing into a sum: a lookup, element-wise work."""

Dims = tuple[int, ...]
"""A shape with every dimension known: what the counting rules are given (``_macs`` checks)."""

Rule = Callable[[Any, Sequence[Dims], Dims | None], "int | None"]


@dataclass(frozen=True)
class LayerCost:
    """The costs of one executed layer call."""

    trainable_params: int
    non_trainable_params: int
    macs: int | None
    """Multiply-accumulates for the probe's batch; ``None`` when unknown (a layer with weights and no rule)."""
    activation_bytes: int
    """Bytes of every tensor the call output."""


def _size(shape: Iterable[Any]) -> int:
    return math.prod(int(d) for d in shape)


def _weight_count(weights: Iterable[Any]) -> int:
    return sum(_size(w.shape) for w in weights)


def split_params(layer: Any) -> tuple[int, int]:
    """``(trainable, non_trainable)`` weights owned by ``layer`` (a frozen layer's are all non-trainable)."""
    try:
        return _weight_count(layer.trainable_weights), _weight_count(layer.non_trainable_weights)
    except (AttributeError, ValueError, TypeError):  # an unbuilt or exotic layer
        return 0, 0


def _owns_weights(layer: Any) -> bool:
    return sum(split_params(layer)) > 0


def _class_names(obj: Any) -> tuple[str, ...]:
    return tuple(cls.__name__ for cls in type(obj).__mro__)


def _kernel(layer: Any, name: str = "kernel") -> Dims | None:
    value = getattr(layer, name, None)
    shape = getattr(value, "shape", None)
    if shape is None:
        return None
    try:
        return tuple(int(d) for d in shape)
    except (TypeError, ValueError):
        return None


def _channels_axis(layer: Any) -> int:
    return 1 if getattr(layer, "data_format", "channels_last") == "channels_first" else -1


def _positions(shape: Dims, layer: Any) -> int:
    """Batch × spatial positions of a conv input/output (all axes but the channel axis)."""
    axis = _channels_axis(layer) % len(shape)
    return _size(d for i, d in enumerate(shape) if i != axis)


# --- convolutions and dense projections --------------------------------------------------------


def _conv_macs(layer: Any, inputs: Sequence[Dims], out: Dims | None) -> int | None:
    kind = type(layer).__name__
    if "Transpose" in kind:
        kernel = _kernel(layer)
        return None if kernel is None else _positions(inputs[0], layer) * _size(kernel)
    if out is None:
        return None
    if "Separable" in kind:
        depthwise, pointwise = _kernel(layer, "depthwise_kernel"), _kernel(layer, "pointwise_kernel")
        if depthwise is None or pointwise is None:
            return None
        return _positions(out, layer) * (_size(depthwise) + _size(pointwise))
    if "Depthwise" in kind:
        kernel = _kernel(layer) or _kernel(layer, "depthwise_kernel")
        return None if kernel is None else _positions(out, layer) * _size(kernel)
    # Conv1D/2D/3D: the kernel is (*window, in / groups, filters), so grouping is in its size.
    kernel = _kernel(layer)
    return None if kernel is None else _positions(out, layer) * _size(kernel)


def _dense_macs(layer: Any, inputs: Sequence[Dims], out: Dims | None) -> int | None:
    kernel = _kernel(layer)
    if kernel is None or len(kernel) != 2:
        return None
    return _size(inputs[0][:-1]) * _size(kernel)


def _einsum_product(equation: object, *operands: Dims) -> int | None:
    """Multiply-adds of a two-operand einsum: the product of every index's size.

    Each output element sums the products over the indices the output drops, so the
    count is (output indices) × (contracted indices) = all distinct indices; an
    ellipsis stands for the leading axes it covers (batch-like, kept in the output).
    """
    if not isinstance(equation, str) or "->" not in equation:
        return None
    terms = equation.replace(" ", "").split("->")[0].split(",")
    if len(terms) != len(operands):
        return None
    sizes: dict[str, int] = {}
    ellipsis = 1
    for term, shape in zip(terms, operands):
        named = term.replace("...", "")
        if len(named) > len(shape) or ("..." not in term and len(named) != len(shape)):
            return None
        if "..." in term:
            head, tail = term.split("...")
            covered = shape[len(head) : len(shape) - len(tail)]
            ellipsis = max(ellipsis, _size(covered))  # broadcast ellipses: the larger one runs
            letters = list(zip(head, shape)) + list(zip(tail, shape[len(shape) - len(tail) :]))
        else:
            letters = list(zip(term, shape))
        for letter, size in letters:
            if sizes.setdefault(letter, int(size)) != int(size) and 1 not in (sizes[letter], size):
                return None
            sizes[letter] = max(sizes[letter], int(size))
    return ellipsis * math.prod(sizes.values())


def _einsum_dense_macs(layer: Any, inputs: Sequence[Dims], out: Dims | None) -> int | None:
    kernel = _kernel(layer)
    if kernel is None:
        return None
    return _einsum_product(getattr(layer, "equation", None), inputs[0], kernel)


# --- products of two activations ---------------------------------------------------------------


def _matmul_macs(layer: Any, inputs: Sequence[Dims], out: Dims | None) -> int | None:
    """``keras.ops.matmul``: every output element is a dot product over the shared axis."""
    if len(inputs) != 2 or not inputs[0] or out is None:
        return None
    return _size(out) * int(inputs[0][-1])


def _einsum_op_macs(layer: Any, inputs: Sequence[Dims], out: Dims | None) -> int | None:
    """``keras.ops.einsum`` of two operands (more would depend on the contraction order)."""
    return _einsum_product(getattr(layer, "subscripts", None), *inputs) if len(inputs) == 2 else None


def _dot_macs(layer: Any, inputs: Sequence[Dims], out: Dims | None) -> int | None:
    """The ``Dot`` layer: each output element sums over the contracted axis of the first input."""
    axes = getattr(layer, "axes", None)
    if len(inputs) != 2 or out is None:
        return None
    axis = axes if isinstance(axes, int) else axes[0] if isinstance(axes, (list, tuple)) and axes else None
    if not isinstance(axis, int):
        return None
    return _size(out) * int(inputs[0][axis % len(inputs[0])])


# --- keras.ops contractions called inside a custom layer's call --------------------------------


def _shape_arg(value: Any) -> Dims | None:
    return value if isinstance(value, tuple) and all(isinstance(d, int) for d in value) else None


def _tensordot_macs(a: Dims, axes: Any, out: Dims) -> int | None:
    if isinstance(axes, int):
        contracted = a[len(a) - axes :] if axes else ()
    elif isinstance(axes, (list, tuple)) and len(axes) == 2:
        first = axes[0]
        first = [first] if isinstance(first, int) else list(first)
        contracted = tuple(a[i] for i in first)
    else:
        return None
    return _size(out) * _size(contracted)


def op_macs(name: str, arguments: Mapping[str, Any], out: Dims | None) -> int | None:
    """MACs of one ``keras.ops`` contraction, from its real operand shapes.

    Args:
        name: the op (``"matmul"``, ``"einsum"``, ``"conv"``… see ``_keras_graph.CONTRACTION_OPS``).
        arguments: its arguments by parameter name, tensors given as their shapes (tuples of ints).
        out: the shape of its result.

    Returns:
        The count; ``None`` when it cannot be known (an einsum of three operands, whose cost depends
        on the contraction order, or operands of unknown shape).
    """
    if out is None:
        return None
    x1, x2 = _shape_arg(arguments.get("x1")), _shape_arg(arguments.get("x2"))
    if name in ("matmul", "dot", "inner"):
        if x1 is None or x2 is None:
            return None
        if not x1 or not x2:  # a scalar operand: element-wise
            return 0
        return _size(out) * x1[-1]  # every output element is a dot product over the shared axis
    if name == "vdot":
        return None if x1 is None else _size(x1)
    if name == "tensordot":
        return None if x1 is None else _tensordot_macs(x1, arguments.get("axes", 2), out)
    if name == "einsum":
        operands = [_shape_arg(o) for o in arguments.get("operands", ())]
        if any(o is None for o in operands):
            return None
        if len(operands) == 1:
            return 0  # a transpose, a trace or a sum: nothing multiplied
        return _einsum_product(arguments.get("subscripts"), *cast("list[Dims]", operands))
    kernel = _shape_arg(arguments.get("kernel"))
    if name == "conv":  # kernel (*window, in / groups, filters): each output sums window × in / groups
        return None if kernel is None else _size(out) * _size(kernel[:-1])
    if name == "depthwise_conv":  # kernel (*window, in, multiplier): each output sums its window
        return None if kernel is None else _size(out) * _size(kernel[:-2])
    if name == "conv_transpose":  # each input value is scattered through the kernel (fvcore's convention)
        inputs = _shape_arg(arguments.get("inputs"))
        return None if kernel is None or inputs is None else _size(inputs) * _size(kernel[:-1])
    if name == "separable_conv":
        depthwise, pointwise = (
            _shape_arg(arguments.get("depthwise_kernel")),
            _shape_arg(arguments.get("pointwise_kernel")),
        )
        if depthwise is None or pointwise is None:
            return None
        return _size(out) // pointwise[-1] * (_size(depthwise) + _size(pointwise))
    if name == "dot_product_attention":  # (batch, length, heads, dim): QKᵀ, then the weighted sum of values
        query, key, value = (_shape_arg(arguments.get(k)) for k in ("query", "key", "value"))
        if query is None or key is None or value is None or len(query) != 4 or len(key) != 4:
            return None
        batch, t_q, heads, dim = query
        return batch * heads * t_q * key[1] * (dim + value[-1])
    return None


# --- attention ---------------------------------------------------------------------------------


def _attention_axes(layer: Any, query: Dims) -> tuple[int, ...] | None:
    """Query axes attention runs over (Keras's default: all between batch and features)."""
    axes = getattr(layer, "attention_axes", None)
    if axes is None:
        return tuple(range(1, len(query) - 1))
    axes = tuple(int(a) for a in axes)
    return axes if all(0 < a < len(query) - 1 for a in axes) else None


def _attention_products(
    layer: Any, query: Dims, value: Dims, heads: int, key_dim: int, value_dim: int
) -> int | None:
    """``QKᵀ`` scores and the weighted sum of values, per head, over the attention axes."""
    axes = _attention_axes(layer, query)
    if axes is None or len(query) != len(value):
        return None
    batch_like = _size(d for i, d in enumerate(query[:-1]) if i not in axes)
    t_q, t_v = _size(query[a] for a in axes), _size(value[a] for a in axes)
    return batch_like * heads * t_q * t_v * (key_dim + value_dim)


def _query_value(inputs: Sequence[Dims]) -> tuple[Dims, Dims, Dims]:
    query = inputs[0]
    value = inputs[1] if len(inputs) > 1 else query
    key = inputs[2] if len(inputs) > 2 else value
    return query, value, key


def _multi_head_attention_macs(layer: Any, inputs: Sequence[Dims], out: Dims | None) -> int | None:
    """Four projections (read from their kernels) plus the two attention products."""
    query, value, _ = _query_value(inputs)
    kernels = [_kernel(getattr(layer, f"{part}_dense", None)) for part in ("query", "key", "value", "output")]
    q_kernel, k_kernel, v_kernel, o_kernel = kernels
    if q_kernel is None or k_kernel is None or v_kernel is None or o_kernel is None:
        return None
    heads, key_dim, value_dim = q_kernel[-2], q_kernel[-1], v_kernel[-1]
    q_positions, v_positions = _size(query[:-1]), _size(value[:-1])
    projections = (
        q_positions * (_size(q_kernel) + _size(o_kernel))
        + v_positions * (_size(k_kernel) + _size(v_kernel))  # keys and values share their length
    )
    products = _attention_products(layer, query, value, heads, key_dim, value_dim)
    return None if products is None else projections + products


def _opened_attention_macs(layer: Any, inputs: Sequence[Dims], out: Dims | None) -> int | None:
    """A user subclass of MultiHeadAttention whose projections were recorded as their own rows."""
    query, value, _ = _query_value(inputs)
    q_kernel, v_kernel = (
        _kernel(getattr(layer, "query_dense", None)),
        _kernel(getattr(layer, "value_dense", None)),
    )
    if q_kernel is None or v_kernel is None:
        return None
    return _attention_products(layer, query, value, q_kernel[-2], q_kernel[-1], v_kernel[-1])


def _grouped_query_attention_macs(layer: Any, inputs: Sequence[Dims], out: Dims | None) -> int | None:
    """Query heads attend through fewer shared key/value heads; an optional gate is one more projection."""
    q_heads, kv_heads = getattr(layer, "num_query_heads", None), getattr(layer, "num_key_value_heads", None)
    head_dim = getattr(layer, "head_dim", None)
    if (
        not (isinstance(q_heads, int) and isinstance(kv_heads, int) and isinstance(head_dim, int))
        or out is None
    ):
        return None
    query, value, key = _query_value(inputs)
    if len(query) != 3 or len(value) != 3:
        return None
    batch, t_q, t_v = query[0], query[1], value[1]
    q_projections = (2 if getattr(layer, "use_gate", False) else 1) * query[-1] * q_heads * head_dim
    projections = batch * (
        t_q * (q_projections + q_heads * head_dim * out[-1])
        + t_v * (key[-1] + value[-1]) * kv_heads * head_dim
    )
    return projections + batch * q_heads * t_q * t_v * head_dim * 2


def _dot_attention_macs(layer: Any, inputs: Sequence[Dims], out: Dims | None) -> int | None:
    """Weight-free ``Attention``: ``QKᵀ`` scores then the weighted sum of values."""
    if len(inputs) < 2:
        return None
    query, value = inputs[0], inputs[1]
    t_q, t_v = _size(query[1:-1]), _size(value[1:-1])
    return query[0] * t_q * t_v * (query[-1] + value[-1])


# --- recurrent layers and wrappers -------------------------------------------------------------

_DENSE_CELLS = {"LSTMCell", "GRUCell", "SimpleRNNCell"}


def _cell_step_macs(cell: Any, layer: Any, out: Dims | None) -> int | None:
    """One sample's MACs in one time step: the step input × ``kernel`` + the state × ``recurrent_kernel``."""
    names = set(_class_names(cell))
    if "StackedRNNCells" in names:
        steps = [_cell_step_macs(inner, layer, out) for inner in getattr(cell, "cells", ())]
        return None if not steps else sum_macs(steps)
    if not names & (_DENSE_CELLS | {"ConvLSTMCell"}):
        return None  # a cell we do not know: its cost is unknown, not zero
    kernel, recurrent = _kernel(cell), _kernel(cell, "recurrent_kernel")
    if kernel is None or recurrent is None:
        return None
    weights = _size(kernel) + _size(recurrent)
    if "ConvLSTMCell" not in names:
        return weights
    # Both convolutions produce the state's positions (the recurrent one is stride 1, "same").
    filters = getattr(cell, "filters", None)
    if out is None or not isinstance(filters, int):
        return None
    per_step = _size(out[2:] if getattr(layer, "return_sequences", False) else out[1:])
    return None if per_step % filters else per_step // filters * weights


def _recurrent_macs(layer: Any, inputs: Sequence[Dims], out: Dims | None) -> int | None:
    sequence = inputs[0]  # initial states, when given, follow it
    if len(sequence) < 3:
        return None
    per_step = _cell_step_macs(getattr(layer, "cell", None), layer, out)
    return None if per_step is None else sequence[0] * sequence[1] * per_step


def _output_shape(layer: Any, shape: Shape) -> Shape | None:
    """What ``layer`` outputs for ``shape`` (its first output), by Keras's public shape inference."""
    try:
        result = layer.compute_output_shape(shape)
    except Exception:
        return None
    if isinstance(result, (list, tuple)) and result and isinstance(result[0], (list, tuple)):
        result = result[0]
    try:
        return tuple(None if d is None else int(d) for d in result)
    except (TypeError, ValueError):
        return None


def _bidirectional_macs(layer: Any, inputs: Sequence[Dims], out: Dims | None) -> int | None:
    """Both directions run over the whole sequence; merging their outputs multiplies nothing."""
    total = 0
    for direction in (getattr(layer, "forward_layer", None), getattr(layer, "backward_layer", None)):
        if direction is None:
            return None
        macs = _macs(direction, inputs[:1], _output_shape(direction, inputs[0]))
        if macs is None:
            return None
        total += macs
    return total


def _time_distributed_macs(layer: Any, inputs: Sequence[Dims], out: Dims | None) -> int | None:
    """The wrapped layer's own rule, on every (sample, step) pair as one sample."""
    inner, sequence = getattr(layer, "layer", None), inputs[0]
    if inner is None or len(sequence) < 2 or out is None or len(out) < 2:
        return None
    samples = sequence[0] * sequence[1]
    return _macs(inner, ((samples, *sequence[2:]),), (samples, *out[2:]))


def _wrapped_macs(layer: Any, inputs: Sequence[Dims], out: Dims | None) -> int | None:
    """``SpectralNormalization``: the wrapped layer's call (its power iteration runs in training only)."""
    inner = getattr(layer, "layer", None)
    return None if inner is None else _macs(inner, inputs, out)


def _free(layer: Any, inputs: Sequence[Dims], out: Dims | None) -> int:
    return 0


_CONV_TYPE = re.compile(r"^(Depthwise|Separable)?Conv(olution)?[123]D(Transpose)?$")

# Keyed by the layer's class name (subclasses are matched through their MRO).
_RULES: dict[str, Rule] = {
    "Dense": _dense_macs,
    "EinsumDense": _einsum_dense_macs,
    "MultiHeadAttention": _multi_head_attention_macs,
    "GroupedQueryAttention": _grouped_query_attention_macs,
    "Attention": _dot_attention_macs,
    "RNN": _recurrent_macs,
    "Bidirectional": _bidirectional_macs,
    "TimeDistributed": _time_distributed_macs,
    "SpectralNormalization": _wrapped_macs,
    "Dot": _dot_macs,
    "Matmul": _matmul_macs,
    "Einsum": _einsum_op_macs,
    **{name: _free for name in MAC_FREE},
}

# A layer the call recorder opened into sublayer rows: only what its sublayers do not do.
_OPENED_RULES: dict[str, Rule] = {
    "MultiHeadAttention": _opened_attention_macs,
}


def _rule(layer: Any, rules: Mapping[str, Rule], conv: bool) -> Rule | None:
    for name in _class_names(layer):
        if conv and _CONV_TYPE.match(name):
            return _conv_macs
        if name in rules:
            return rules[name]
    return None


def _macs(layer: Any, inputs: Sequence[Shape], out: Shape | None) -> int | None:
    """MACs by the first rule on the layer's MRO; without one, 0 if it owns no weights, else unknown."""
    rule = _rule(layer, _RULES, conv=True)
    if rule is None or not inputs or any(d is None for s in (*inputs, out or ()) for d in s):
        return None if _owns_weights(layer) else 0
    macs = rule(layer, cast("Sequence[Dims]", inputs), cast("Dims | None", out))
    return None if macs is None else int(macs)


_NAMED_OPERANDS = ("query", "value", "key")


def _with_named(inputs: Sequence[Shape], named: Mapping[str, Shape] | None) -> tuple[Shape, ...]:
    """Operands passed by keyword (``mha(query=x, value=y)``) take their positional place."""
    shapes = list(inputs)
    if not named:
        return tuple(shapes)
    if not shapes and "inputs" in named:
        shapes.append(named["inputs"])
    for position, name in enumerate(_NAMED_OPERANDS):
        if position < len(shapes):
            continue
        if name not in named:
            break
        shapes.append(named[name])
    return tuple(shapes)


def count_macs(
    layer: Any,
    inputs: Sequence[Shape],
    out: Shape | None,
    *,
    named: Mapping[str, Shape] | None = None,
    own_params: int | None = None,
) -> int | None:
    """Multiply-accumulates of one call of ``layer`` on ``inputs`` giving ``out``.

    Args:
        layer: the called layer (or operation).
        inputs: shapes of the call's positional tensors.
        out: shape of its (first) output; ``None`` for a call that raised, which did no work (0).
        named: shapes of tensors passed by keyword (``query=``, ``value=``, ``key=``).
        own_params: for a layer the call recorder opened into sublayer rows, the weights no
            recorded sublayer owns; its row then counts only work its sublayers do not.

    Returns:
        The count, or ``None`` when it is unknown: a layer with weights and no rule.
    """
    if out is None:
        return 0
    inputs = _with_named(inputs, named)
    if own_params is not None:
        rule = _rule(layer, _OPENED_RULES, conv=False)
        if rule is not None and inputs:
            macs = rule(layer, cast("Sequence[Dims]", inputs), cast("Dims", out))
            return None if macs is None or own_params else int(macs)
        return None if own_params else 0
    return _macs(layer, inputs, out)


def block_macs(
    layer: Any,
    inputs: Sequence[Shape],
    out: Shape | None,
    *,
    own_weights: Sequence[Dims],
    own_ids: Sequence[int],
    contractions: int,
    contraction_macs: int | None,
    read_weights: set[int],
) -> int | None:
    """MACs of a block's own ``call`` (one the call recorder opened): what its sublayers' rows do not count.

    The ``keras.ops`` contractions it made are counted from their real shapes. Its own weights
    (``add_weight`` in the block) must be accounted for: a vector (a scale, a bias, a class
    token) works element-wise, free like a normalization layer's; a matrix or larger must have
    been read by an op that was seen (a contraction, counted; a lookup or slice, free).
    Otherwise its use is unseen and the cost is unknown. Without any contraction seen, a
    subclass of a known layer (KerasHub's ``ReversibleEmbedding`` of ``Embedding``, a user's
    ``MultiHeadAttention``) falls back to that layer's rule.
    """
    if out is None:
        return 0
    unseen = [
        shape
        for shape, ident in zip(own_weights, own_ids)
        if sum(1 for d in shape if d > 1) > 1 and ident not in read_weights  # a vector: (d,), (1, 1, d)
    ]
    if contractions:
        return None if unseen else contraction_macs
    if not own_weights:
        return count_macs(layer, inputs, out, own_params=0)  # 0, or a subclassed attention's products
    if not unseen:
        return 0  # its weights are vectors, or read by lookups: element-wise work only
    if len(own_weights) == len(getattr(layer, "weights", ())):
        # Every weight is its own: a subclass of a known layer keeps that layer's rule.
        rule = _rule(layer, _RULES, conv=True)
        if rule is not None and inputs and all(d is not None for s in (*inputs, out) for d in s):
            macs = rule(layer, cast("Sequence[Dims]", inputs), cast("Dims", out))
            return None if macs is None else int(macs)
    return None


def layer_cost(
    layer: Any,
    inputs: Sequence[Shape],
    out: Shape | None,
    activation_bytes: int,
    *,
    shared: bool,
    named: Mapping[str, Shape] | None = None,
    own_params: tuple[int, int] | None = None,
) -> LayerCost:
    """All costs of one call; a shared layer's repeated call owns no params (they count once).

    ``own_params`` marks a layer opened into sublayer rows: its ``(trainable, non_trainable)``
    weights that no recorded sublayer owns, which are then its row's params, while its MACs
    count only what its sublayers do not (unknown if it owns weights of its own).
    """
    if own_params is not None:
        trainable, non_trainable = (0, 0) if shared else own_params
        macs = count_macs(layer, inputs, out, named=named, own_params=sum(own_params))
    else:
        trainable, non_trainable = (0, 0) if shared else split_params(layer)
        macs = count_macs(layer, inputs, out, named=named)
    return LayerCost(
        trainable_params=trainable,
        non_trainable_params=non_trainable,
        macs=macs,
        activation_bytes=activation_bytes,
    )


@dataclass(frozen=True)
class CostTotals:
    """The footer: what torchinfo shows beneath its table, for one trace."""

    total_params: int
    """Unique weights of the whole model (``model.count_params()``)."""
    trainable_params: int
    non_trainable_params: int
    macs: int
    """Sum of the executed layers' MACs whose count is known (see ``unknown_layers``)."""
    input_bytes: int
    activation_bytes: int
    """Sum of every executed layer's output bytes (what ``model(x)`` keeps until it returns)."""
    peak_live_bytes: int
    """Largest total of tensors the streaming engine held alive at once."""
    params_bytes: int
    complete: bool
    """True when every layer ran and every layer's MACs are known; ``macs`` is then the whole model's."""
    executed_params: int
    """Params of the rows that ran (equals ``total_params`` for a complete trace)."""
    unknown_layers: int = 0
    """Rows whose MACs are unknown (``None``): layers with weights and no counting rule."""
    reached_end: bool = True
    """False when the probe broke or the model's input check refused it (a plain call fails)."""
    broke: bool = False
    """A layer broke: the costs then cover only the layers up to the break."""

    @property
    def estimated_total_bytes(self) -> int:
        """Input + activations (sum) + params: an inference-time upper bound like torchinfo's."""
        return self.input_bytes + self.activation_bytes + self.params_bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "non_trainable_params": self.non_trainable_params,
            "macs": self.macs,
            "input_bytes": self.input_bytes,
            "activation_bytes": self.activation_bytes,
            "peak_live_bytes": self.peak_live_bytes,
            "params_bytes": self.params_bytes,
            "estimated_total_bytes": self.estimated_total_bytes,
            "complete": self.complete,
            "unknown_layers": self.unknown_layers,
        }


PARAM_BYTES = 4  # float32 weights: the dtype keras.applications builds with


def sum_macs(values: Iterable[int | None]) -> int | None:
    """Sum of MAC counts where one unknown (``None``) makes the sum unknown."""
    total = 0
    for value in values:
        if value is None:
            return None
        total += value
    return total


def totals_of(trace: Any) -> CostTotals:
    """Sum a trace's per-layer costs into the footer.

    Trainable and non-trainable counts are summed from the rows; on a complete
    trace they add up to the model's total (tested), and the parameters of
    layers after a break are unknown to it: the split then covers the executed
    layers only (``reached_end`` is False) while ``total_params`` stays the model's.
    MACs sum the rows whose count is known; ``unknown_layers`` counts the others,
    and either a break or an unknown row makes the totals not ``complete``.
    """
    rows = trace.layers
    trainable = sum(r.trainable_params for r in rows)
    non_trainable = sum(r.non_trainable_params for r in rows)
    reached_end = trace.broken is None and trace.boundary.accepted
    unknown = sum(1 for r in rows if r.macs is None)
    input_bytes = sum(_size(p.shape) for p in trace.probes) * 4
    return CostTotals(
        total_params=trace.total_params,
        trainable_params=trainable,
        non_trainable_params=non_trainable,
        macs=sum(r.macs for r in rows if r.macs is not None),
        input_bytes=input_bytes,
        activation_bytes=sum(r.activation_bytes for r in rows if r.type != "InputLayer"),
        peak_live_bytes=trace.peak_live_bytes,
        params_bytes=trace.total_params * PARAM_BYTES,
        complete=reached_end and unknown == 0,
        executed_params=trainable + non_trainable,
        unknown_layers=unknown,
        reached_end=reached_end,
        broke=trace.broken is not None,
    )


_UNITS = ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K"))


def format_count(n: int | None) -> str:
    """``300774272`` → ``300.77M``; small numbers stay exact."""
    if n is None:
        return "-"
    for scale, unit in _UNITS:
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(n)


def format_macs(n: int | None) -> str:
    """A row's MACs: ``?`` when unknown (never 0), ``-`` for none, else like :func:`format_count`."""
    if n is None:
        return "?"
    return format_count(n) if n else "-"


def format_bytes(n: int | None) -> str:
    """Decimal units like torchinfo: ``8_610_000`` → ``8.61 MB``."""
    if n is None:
        return "-"
    for scale, unit in ((10**9, "GB"), (10**6, "MB"), (10**3, "kB")):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n} B"
