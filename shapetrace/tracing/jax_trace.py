"""The JAX fast path: a trace's shapes from ``jax.eval_shape``, not op-by-op eager dispatch.

Keras on JAX runs a layer eagerly one primitive at a time, and XLA compiles each primitive
anew for every shape it meets: a fresh EfficientNetB0 trace spends most of its time compiling
(issue 18). JAX shapes are static, so a layer call's output shape and dtype follow from its
input shapes and dtypes alone: ``jax.eval_shape`` traces the real ``call`` once, abstractly,
and compiles nothing. Two places use that:

* :func:`walk`: the stream engine's walk with abstract tensors (``jax.ShapeDtypeStruct``)
  flowing between layers. Each built-in layer is called for real, only on abstract values,
  inside a ``StatelessScope`` (a state update cannot escape). What abstract values cannot
  prove is left to the real, eager walk, which then runs from the start: a layer that reads
  values (JAX raises on any concretization), a failed call (the break row's message must be the
  real call's), a user-defined layer or subclassed model (the call recorder runs them for real),
  a nested model Keras would reshape on entry. Rows are built by the same ``RowMaker`` from the
  same shapes, so they equal the eager walk's (and TensorFlow's) field by field.
* :func:`fast_initializers`: while a ``keras.applications`` model is built, the truncated-normal
  initializer draws its samples with NumPy (same distribution, seeded from Keras's own seed)
  instead of compiling ``jax.random.truncated_normal`` for every kernel shape (0.2–0.4 s each on
  a CPU: most of a fresh EfficientNet build).

On every other backend both are no-ops.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

import numpy as np

from shapetrace.tracing import _keras_graph as kg

if TYPE_CHECKING:
    from keras import Model

    from shapetrace.records import Probe
    from shapetrace.tracing.engine import WalkResult

__all__ = ["active", "walk", "fast_initializers", "abstract_call", "Abandon"]


class Abandon(Exception):
    """The abstract walk cannot vouch for a row: the real walk takes over."""


def active() -> bool:
    """The fast path applies: Keras runs on JAX in this process."""
    return kg.backend_name() == "jax"


def abstract_call(operation: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``operation``'s real call in inference mode, on abstract values: the output's shapes/dtypes.

    Raises:
        Abandon: the call failed or needed values (the real call decides what happens).
    """
    import jax

    flat = kg.flatten((args, kwargs))
    where = [i for i, value in enumerate(flat) if kg.is_tensor_like(value)]

    def call(*tensors: Any) -> Any:
        filled = list(flat)
        for i, tensor in zip(where, tensors):
            filled[i] = tensor
        a, k = kg.keras.tree.pack_sequence_as((args, kwargs), filled)
        return kg.run_call(operation, tuple(a), dict(k))

    try:
        with kg.keras.StatelessScope():  # no variable update escapes the abstract call
            return jax.eval_shape(call, *(_abstract(flat[i]) for i in where))
    except Exception as error:  # anything the abstract call cannot prove: the real call decides
        raise Abandon(f"{type(operation).__name__}: {error}") from None


def _abstract(tensor: Any) -> Any:
    import jax

    if isinstance(tensor, jax.ShapeDtypeStruct):
        return tensor
    return jax.ShapeDtypeStruct(tuple(tensor.shape), tensor.dtype)


def walk(
    model: Model, probes: list[Probe], arrays: list[Any], on_layer: Callable[[int], None] | None = None
) -> WalkResult | None:
    """The stream engine's walk with abstract tensors; ``None`` where it does not apply or gave up.

    ``None`` means: run the real walk (the caller does, from the start).
    """
    if not active() or kg.graph_of(model) is None:
        return None  # a subclassed model: its real call is recorded
    from shapetrace.tracing.engine import walk_with

    try:
        return walk_with(_abstract_walker(on_layer), model, probes, arrays)
    except Abandon:
        return None


def _abstract_walker(on_layer: Callable[[int], None] | None) -> Any:
    from shapetrace.tracing.engine import _Walker
    from shapetrace.tracing.recorder import is_opened

    class AbstractWalker(_Walker):
        """The engine's walker with ``jax.eval_shape`` in place of each layer's eager call."""

        def walk_graph(self, graph: kg.Graph, tensors: list, prefix: str, depth: int) -> list:
            return super().walk_graph(graph, [_abstract(t) for t in tensors], prefix, depth)

        def run_operation(
            self, operation: Any, call: Any, args: Any, kwargs: dict[str, Any], prefix: str, depth: int
        ) -> Any:
            if is_opened(operation):
                raise Abandon(f"{operation.name} is user-defined: the call recorder runs it for real")
            path = prefix + operation.name
            if kg.is_model(operation):
                inner = kg.graph_of(operation)
                if inner is None:
                    raise Abandon(f"{operation.name} has no graph")
                verdict: dict[str, Any] = {}

                def admit(*tensors: Any) -> list[Any]:
                    accepted, reason, adjusted = kg.admit_inputs(operation, list(tensors))
                    verdict.update(accepted=accepted, reason=reason)
                    return adjusted

                adjusted = _eval_shape(admit, kg.flatten_tensors(args))
                if not verdict.get("accepted") or verdict.get("reason"):
                    raise Abandon(f"{operation.name} refuses or reshapes its inputs")
                outputs = self.walk_graph(inner, list(adjusted), path + "/", depth + 1)
                return outputs[0] if len(outputs) == 1 else outputs
            output = abstract_call(operation, args, kwargs)
            self.maker.layer_row(path, depth, operation, call, args, kwargs, output)
            return output

    return AbstractWalker(on_layer)


def _eval_shape(function: Callable[..., Any], tensors: list[Any]) -> Any:
    import jax

    try:
        with kg.keras.StatelessScope():
            return jax.eval_shape(function, *(_abstract(t) for t in tensors))
    except Exception as error:
        raise Abandon(str(error)) from None


@contextmanager
def fast_initializers() -> Iterator[None]:
    """On JAX: Keras's truncated-normal initializer sampled with NumPy while the block runs."""
    context = (
        kg.replaced_backend_random(truncated_normal=_numpy_truncated_normal) if active() else nullcontext()
    )
    with context:
        yield


def _numpy_truncated_normal(
    shape: Any, mean: float = 0.0, stddev: float = 1.0, dtype: Any = None, seed: Any = None
) -> Any:
    """``keras.random.truncated_normal`` on JAX (within two standard deviations), drawn by NumPy
    from a generator seeded with the key Keras drew: reproducible under ``set_random_seed``."""
    import jax

    key = kg.jax_seed(seed)
    words = jax.random.key_data(key) if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) else key
    rng = np.random.default_rng([int(w) for w in np.asarray(words).ravel()])
    size = int(np.prod(shape, dtype=np.int64))
    sample = rng.standard_normal(size)
    outside = np.abs(sample) > 2.0
    while outside.any():  # resampling what falls outside is what truncation means
        sample[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(sample) > 2.0
    values = sample.reshape(tuple(int(d) for d in shape)) * stddev + mean
    return jax.numpy.asarray(
        values.astype(kg.keras.backend.standardize_dtype(dtype or kg.keras.config.floatx()))
    )
