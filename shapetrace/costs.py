"""What each layer costs: parameters, multiply-accumulates (MACs) and output bytes, plus totals.

What a MAC is here: one multiplication of an input value by a weight (or by
another activation, inside attention) that is accumulated into an output — the
"multiply-adds" that architecture papers report. Counted, for the batch the
probe really had:

* convolutions of any rank, grouped (``groups=``), depthwise, separable (its
  depthwise and pointwise halves) and transposed: ``output positions × kernel size``
  (input positions for a transposed convolution, which scatters each input);
* ``Dense`` on any rank (every leading position × kernel size) and ``EinsumDense``
  (output elements × the contracted kernel dimensions);
* ``MultiHeadAttention`` (query, key, value and output projections plus the
  ``QKᵀ`` scores and the weighted sum of values) and the weight-free dot-product
  ``Attention`` layer (scores and weighted sum).

Not counted (zero MACs): bias additions, batch/layer normalization, activations,
pooling, element-wise arithmetic (``Add``, ``Multiply``, ``Rescaling``), resizing,
softmax, and anything in a layer this module does not know. Published figures
count the same things, which is why they can be compared (see ``docs/survey.md``).

Nothing here imports Keras: layers are read through their public attributes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

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
    "MAC_COUNTED",
]

MAC_COUNTED = (
    "Conv1D/2D/3D (grouped too)",
    "DepthwiseConv1D/2D",
    "SeparableConv1D/2D",
    "Conv1D/2D/3DTranspose",
    "Dense",
    "EinsumDense",
    "MultiHeadAttention",
    "Attention",
)
"""Layer types with a MAC count; every other layer counts zero."""


@dataclass(frozen=True)
class LayerCost:
    """The costs of one executed layer call."""

    trainable_params: int
    non_trainable_params: int
    macs: int
    """Multiply-accumulates for the probe's batch (0 for layers not in ``MAC_COUNTED``)."""
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


def _kernel(layer: Any, name: str = "kernel") -> Shape | None:
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


def _positions(shape: Shape, layer: Any) -> int:
    """Batch × spatial positions of a conv input/output (all axes but the channel axis)."""
    axis = _channels_axis(layer) % len(shape)
    return _size(d for i, d in enumerate(shape) if i != axis)


def _conv_macs(layer, inputs, out) -> int | None:
    kind = type(layer).__name__
    if "Transpose" in kind:
        kernel = _kernel(layer)
        return None if kernel is None else _positions(inputs[0], layer) * _size(kernel)
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


def _dense_macs(layer, inputs, out) -> int | None:
    kernel = _kernel(layer)
    if kernel is None or len(kernel) != 2:
        return None
    return _size(inputs[0][:-1]) * _size(kernel)


def _einsum_macs(layer, inputs, out) -> int | None:
    kernel = _kernel(layer)
    equation = getattr(layer, "equation", None)
    if kernel is None or not isinstance(equation, str) or "->" not in equation:
        return None
    operands, result = equation.replace(" ", "").split("->")
    if "," not in operands:
        return None
    kernel_letters = operands.split(",")[1]
    if len(kernel_letters) != len(kernel):
        return None
    contracted = [size for letter, size in zip(kernel_letters, kernel) if letter not in result]
    return _size(out) * math.prod(contracted)


def _attention_macs(layer, inputs, out) -> int | None:
    """MultiHeadAttention: four projections plus scores and the weighted sum, per head."""
    heads, key_dim = getattr(layer, "num_heads", None), getattr(layer, "key_dim", None)
    if not isinstance(heads, int) or not isinstance(key_dim, int) or not inputs:
        return None
    value_dim = getattr(layer, "value_dim", None) or key_dim
    query = inputs[0]
    value = inputs[1] if len(inputs) > 1 else query
    key = inputs[2] if len(inputs) > 2 else value
    batch = query[0]
    t_q, t_v = _size(query[1:-1]), _size(value[1:-1])
    projections = batch * heads * (
        t_q * query[-1] * key_dim + t_v * key[-1] * key_dim + t_v * value[-1] * value_dim
    )
    scores = batch * heads * t_q * t_v * (key_dim + value_dim)
    output = batch * t_q * heads * value_dim * out[-1]
    return projections + scores + output


def _dot_attention_macs(layer, inputs, out) -> int | None:
    """Weight-free ``Attention``: ``QKᵀ`` scores then the weighted sum of values."""
    if len(inputs) < 2:
        return None
    query, value = inputs[0], inputs[1]
    t_q, t_v = _size(query[1:-1]), _size(value[1:-1])
    return query[0] * t_q * t_v * (query[-1] + value[-1])


_CONV_TYPE = re.compile(r"^(Depthwise|Separable)?Conv(olution)?[123]D(Transpose)?$")

# Keyed by the layer's class name (subclasses are matched through their MRO).
_RULES = {
    "Dense": _dense_macs,
    "EinsumDense": _einsum_macs,
    "MultiHeadAttention": _attention_macs,
    "Attention": _dot_attention_macs,
}


def count_macs(layer: Any, inputs: Sequence[Shape], out: Shape | None) -> int:
    """Multiply-accumulates of one call of ``layer`` on ``inputs`` giving ``out`` (0 if not counted)."""
    if out is None or not inputs or any(d is None for s in (*inputs, out) for d in s):
        return 0
    for cls in type(layer).__mro__:
        name = cls.__name__
        rule = _conv_macs if _CONV_TYPE.match(name) else _RULES.get(name)
        if rule is not None:
            return int(rule(layer, inputs, out) or 0)
    return 0


def layer_cost(layer: Any, inputs: Sequence[Shape], out: Shape | None, activation_bytes: int,
               *, shared: bool) -> LayerCost:
    """All costs of one call; a shared layer's repeated call owns no params (they count once)."""
    trainable, non_trainable = (0, 0) if shared else split_params(layer)
    return LayerCost(
        trainable_params=trainable,
        non_trainable_params=non_trainable,
        macs=count_macs(layer, inputs, out),
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
    """Sum of the executed layers' MACs."""
    input_bytes: int
    activation_bytes: int
    """Sum of every executed layer's output bytes (what ``model(x)`` keeps until it returns)."""
    peak_live_bytes: int
    """Largest total of tensors the streaming engine held alive at once."""
    params_bytes: int
    complete: bool
    """False when the probe broke: the costs then cover only the layers up to the break."""
    executed_params: int
    """Params of the rows that ran (equals ``total_params`` for a complete trace)."""

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
        }


PARAM_BYTES = 4  # float32 weights: the dtype keras.applications builds with


def totals_of(trace: Any) -> CostTotals:
    """Sum a trace's per-layer costs into the footer.

    Trainable and non-trainable counts are summed from the rows; on a complete
    trace they add up to the model's total (tested), and the parameters of
    layers after a break are unknown to it: the split then covers the executed
    layers only (``complete`` is False) while ``total_params`` stays the model's.
    """
    rows = trace.layers
    trainable = sum(r.trainable_params for r in rows)
    non_trainable = sum(r.non_trainable_params for r in rows)
    complete = trace.broken is None and trace.boundary.accepted
    input_bytes = sum(_size(p.shape) for p in trace.probes) * 4
    return CostTotals(
        total_params=trace.total_params,
        trainable_params=trainable,
        non_trainable_params=non_trainable,
        macs=sum(r.macs for r in rows),
        input_bytes=input_bytes,
        activation_bytes=sum(r.activation_bytes for r in rows if r.type != "InputLayer"),
        peak_live_bytes=trace.peak_live_bytes,
        params_bytes=trace.total_params * PARAM_BYTES,
        complete=complete,
        executed_params=trainable + non_trainable,
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


def format_bytes(n: int | None) -> str:
    """Decimal units like torchinfo: ``8_610_000`` → ``8.61 MB``."""
    if n is None:
        return "-"
    for scale, unit in ((10**9, "GB"), (10**6, "MB"), (10**3, "kB")):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n} B"
