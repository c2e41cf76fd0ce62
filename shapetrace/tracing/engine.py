"""The streaming trace engine: one walk over the graph, running each layer on real tensors.

Each intermediate tensor is released as soon as its last consumer has run, so
the engine holds only the live frontier of activations (a plain ``model(x)``
keeps every one of them until the call returns). Nested models are walked
recursively with the same recorder, their own input checks included.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shapetrace.messages import one_line
from shapetrace.records import (
    Boundary,
    Break,
    LayerTrace,
    Probe,
)
from shapetrace.tracing import _keras_graph as kg
from shapetrace.tracing.recorder import CallRecorder, RecordingStopped, is_opened
from shapetrace.tracing.rows import RowMaker, tensor_shape

if TYPE_CHECKING:
    from keras import Model

__all__ = ["walk_with", "WalkResult"]


@dataclass(frozen=True)
class WalkResult:
    boundary: Boundary
    rows: tuple[LayerTrace, ...]
    broken: Break | None
    seconds: float
    peak_live_bytes: int


class _Stop(Exception):
    """Unwinds nested walks once a layer broke."""


class _Walker:
    def __init__(self, on_layer: Callable[[int], None] | None = None) -> None:
        self.maker = RowMaker(on_row=on_layer)
        self.live = 0
        self.peak = 0
        self.broken: Break | None = None

    def _hold(self, tensor: Any) -> None:
        self.live += kg.nbytes(tensor)
        self.peak = max(self.peak, self.live)

    def _release(self, tensor: Any) -> None:
        self.live -= kg.nbytes(tensor)

    def walk_graph(self, graph: kg.Graph, tensors: list, prefix: str, depth: int) -> list:
        values: dict[int, Any] = {}
        pending: dict[int, int] = {}
        for ref in graph.outputs:
            pending[id(ref)] = pending.get(id(ref), 0) + 1
        for call in graph.calls:
            for ref in call.input_refs:
                pending[id(ref)] = pending.get(id(ref), 0) + 1
        for ref, tensor in zip(graph.inputs, tensors):
            values[id(ref)] = tensor
            self._hold(tensor)

        for call in graph.calls:
            if any(id(ref) not in values for ref in call.input_refs):
                continue  # not reachable from the inputs we have (Keras skips it too)
            args, kwargs = call.fill(values)
            output = self.run_operation(call.operation, call, args, kwargs, prefix, depth)
            for ref, tensor in zip(call.output_refs, kg.flatten(output)):
                if id(ref) in values:
                    continue
                values[id(ref)] = tensor
                self._hold(tensor)
                if pending.get(id(ref), 0) == 0:
                    self._release(values.pop(id(ref)))
            del args, kwargs, output
            for ref in call.input_refs:
                pending[id(ref)] -= 1
                if pending[id(ref)] == 0 and id(ref) in values:
                    self._release(values.pop(id(ref)))
        results = [values[id(ref)] for ref in graph.outputs]
        for tensor in values.values():
            self._release(tensor)
        return results

    def run_operation(
        self, operation: Any, call: Any, args: Any, kwargs: dict[str, Any], prefix: str, depth: int
    ) -> Any:
        path = prefix + operation.name
        if is_opened(operation):
            # A user-defined layer or subclassed model: no graph, so its calls are recorded.
            recorder = CallRecorder(self.maker)
            try:
                return recorder.run(
                    operation,
                    args,
                    kwargs,
                    path=path,
                    depth=depth,
                    declared_output=call.declared_output if call is not None else None,
                    declared_inputs=call.declared_inputs if call is not None else (),
                )
            except RecordingStopped:
                self.broken = recorder.broken
                raise _Stop from None
        inner = kg.graph_of(operation) if kg.is_model(operation) else None
        if inner is not None:
            tensors = kg.flatten_tensors(args)
            accepted, reason, adjusted = kg.admit_inputs(operation, tensors)
            if not accepted:
                self.broken = self.maker.break_row(path, depth, operation, call, args, reason or "")
                raise _Stop
            outputs = self.walk_graph(inner, adjusted, path + "/", depth + 1)
            return outputs[0] if len(outputs) == 1 else outputs
        try:
            output = kg.run_call(operation, args, kwargs)
        except Exception as error:  # any failure of the real call is the break we report
            self.broken = self.maker.break_row(path, depth, operation, call, args, one_line(error))
            raise _Stop from None
        self.maker.layer_row(path, depth, operation, call, args, kwargs, output)
        return output


def walk_with(walker: _Walker, model: Model, probes: list[Probe], arrays: list[Any]) -> WalkResult:
    """:func:`walk_stream` with a given walker (the JAX fast path passes its own)."""
    tensors = [kg.convert(a, a.dtype) for a in arrays]
    start = time.perf_counter()
    accepted, reason, adjusted = kg.admit_inputs(model, tensors)
    boundary = Boundary(accepted=accepted, reason=reason)
    feed = adjusted if accepted else tensors
    graph = kg.graph_of(model)
    prefix = model.name + "/"
    try:
        if graph is None:
            # A subclassed model (or a Sequential without a known input): its real call,
            # recorded. Its row comes first, like a functional model's input row; the
            # layers it calls are its depth-0 rows, as a functional model's own layers are.
            # Called exactly as a user calls it: model(image, meta), model({"image": …}), model(x).
            from shapetrace.tracing.probes import feed_arguments

            args, kwargs = feed_arguments(model, probes, feed)
            recorder = CallRecorder(walker.maker)
            try:
                recorder.run(model, args, kwargs, path=model.name, depth=0, child_depth=0)
            except RecordingStopped:
                walker.broken = recorder.broken
        else:
            for layer, probe, tensor in zip(graph.input_layers, probes, feed):
                walker.maker.input_row(
                    prefix + layer.name,
                    layer,
                    probe.declared,
                    tensor_shape(tensor),
                    itemsize=kg.itemsize(tensor.dtype),
                )
            walker.walk_graph(graph, feed, prefix, 0)
    except _Stop:
        pass
    seconds = time.perf_counter() - start
    return WalkResult(
        boundary=boundary,
        rows=tuple(r for r in walker.maker.rows if r is not None),  # every slot is filled by now
        broken=walker.broken,
        seconds=seconds,
        peak_live_bytes=walker.peak,
    )
