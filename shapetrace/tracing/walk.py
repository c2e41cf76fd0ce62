"""The trace's walk: the JAX fast path where it applies, else the stream engine on real tensors."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shapetrace.records import Probe
from shapetrace.tracing import _keras_graph as kg
from shapetrace.tracing import jax_trace
from shapetrace.tracing.engine import WalkResult, _Walker, walk_with

if TYPE_CHECKING:
    from keras import Model

__all__ = ["walk_stream"]


def walk_stream(
    model: Model, probes: list[Probe], arrays: list[Any], on_layer: Callable[[int], None] | None = None
) -> WalkResult:
    """Run ``arrays`` (one per model input) through ``model`` layer by layer.

    ``on_layer`` (progress) is called after each layer call with the number of rows so far.

    Returns:
        The boundary verdict, one row per executed call, and the break if any.
    """
    fast = jax_trace.walk(model, probes, arrays, on_layer)  # None: not JAX, or it stepped aside
    if fast is not None:
        return fast
    with kg.grouped_conv_without_xla():  # TensorFlow: no XLA compilation per grouped conv
        return walk_with(_Walker(on_layer), model, probes, arrays)
