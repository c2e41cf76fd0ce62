"""An independent count of a model's multiply-accumulates, from the operations JAX really runs.

``jax.make_jaxpr`` records every primitive of a plain ``model(inputs)`` call; the MACs of its
contractions are read from their operand shapes, without anything of shapetrace:

* ``dot_general``: every output element sums over the contracting dimensions, so
  ``size(output) × product(contracting dims of the left operand)``;
* ``conv_general_dilated``: every output element sums over the kernel's window and its input
  features of one group, so ``size(output) × size(kernel) / output features``.

Nested jaxprs (``pjit``, ``custom_jvp_call``, control flow) are walked; a ``while``/``scan`` body
would be counted once (none of the models checked has one). Used by the tests under the JAX
backend only (``KERAS_BACKEND=jax``); it also reports XLA's own ``flops`` for the same call.
"""

from __future__ import annotations

import math
from typing import Any


def _size(shape: Any) -> int:
    return math.prod(int(d) for d in shape)


def _count(jaxpr: Any) -> int:
    total = 0
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        if name == "dot_general":
            (contract_left, _), _ = eqn.params["dimension_numbers"]
            left = eqn.invars[0].aval.shape
            total += _size(eqn.outvars[0].aval.shape) * _size(left[i] for i in contract_left)
        elif name == "conv_general_dilated":
            kernel = eqn.invars[1].aval.shape
            out_features = kernel[eqn.params["dimension_numbers"].rhs_spec[0]]
            total += _size(eqn.outvars[0].aval.shape) * _size(kernel) // out_features
        for value in eqn.params.values():
            for inner in value if isinstance(value, (list, tuple)) else (value,):
                closed = getattr(inner, "jaxpr", None)
                if closed is not None:
                    total += _count(getattr(closed, "jaxpr", closed))
    return total


def jax_macs(model: Any, inputs: Any) -> int:
    """MACs of ``model(inputs)`` (inference) counted from its jaxpr."""
    import jax

    def run(values: Any) -> Any:
        return model(values, training=False)

    return _count(jax.make_jaxpr(run)(inputs).jaxpr)


def xla_flops(model: Any, inputs: Any) -> float:
    """XLA's cost analysis of the same call: all floating-point operations (2 per MAC, plus
    element-wise work: biases, activations, softmax, normalization)."""
    import jax

    def run(values: Any) -> Any:
        return model(values, training=False)

    analysis = jax.jit(run).lower(inputs).compile().cost_analysis()
    if isinstance(analysis, (list, tuple)):
        analysis = analysis[0]
    return float(analysis.get("flops", 0.0))
