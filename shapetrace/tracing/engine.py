"""The streaming trace engine: one walk over the graph, running each layer on real tensors.

Each intermediate tensor is released as soon as its last consumer has run, so
the engine holds only the live frontier of activations (a plain ``model(x)``
keeps every one of them until the call returns). Nested models are walked
recursively with the same recorder, their own input checks included.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from shapetrace.messages import one_line
from shapetrace.records import (
    Boundary,
    Break,
    LayerTrace,
    Probe,
    Shape,
    break_cause,
    channels_of,
    format_shape,
    shapes_compatible,
)
from shapetrace.tracing import _keras_graph as kg
from shapetrace.tracing.costs import block_macs, layer_cost
from shapetrace.tracing.explain import explain_block, explain_change
from shapetrace.tracing.recorder import CallRecorder, OpsSeen, RecordingStopped, is_opened, tensor_shape

if TYPE_CHECKING:
    from keras import Layer, Model, Operation

__all__ = ["walk_stream", "WalkResult", "RowMaker"]


def _size(shape: Any) -> int:
    size = 1
    for dim in shape:
        size *= int(dim)
    return size


def _bytes_of(shape: Shape, itemsize: int) -> int:
    size = itemsize
    for dim in shape:
        size *= int(dim or 0)
    return size


def _shapes_text(shapes: Sequence[Shape]) -> str:
    return ", ".join(format_shape(tuple(s)) for s in shapes) or "-"


@dataclass
class RowMaker:
    """Builds whole ``LayerTrace`` records; shared by both engines so they agree by construction
    on everything except the shapes they observe."""

    rows: list[LayerTrace | None] = field(default_factory=list)
    seen: set[int] = field(default_factory=set)
    counted: set[int] = field(default_factory=set)
    """Ids of the weights some row already counted (a container row counts only the rest)."""
    on_row: Callable[[int], None] | None = None
    """Progress: called with the number of rows (slots included) after each one is added."""

    def add(self, row: LayerTrace | None) -> None:
        """The one place rows are appended (``None``: a slot a container row fills later)."""
        self.rows.append(row)
        if self.on_row is not None:
            self.on_row(len(self.rows))

    def drop(self, slot: int) -> None:
        """Remove a reserved slot; the rows after it move up one index."""
        del self.rows[slot]
        for i in range(slot, len(self.rows)):
            row = self.rows[i]
            if row is not None:
                self.rows[i] = replace(row, index=i)

    def _seen_before(self, operation: Any) -> bool:
        """A shared layer's second call: its weights were counted at the first."""
        seen = id(operation) in self.seen
        self.seen.add(id(operation))
        return seen

    def input_row(
        self, path: str, layer: Operation, declared: Shape, actual: Shape, itemsize: int = 4
    ) -> None:
        self.add(
            LayerTrace(
                index=len(self.rows),
                path=path,
                name=layer.name,
                type=type(layer).__name__,
                depth=0,
                inputs=(actual,),
                declared_output=declared,
                static_output=actual,
                output=actual,
                params=0,
                activation_bytes=_bytes_of(actual, itemsize),
            )
        )

    def layer_row(
        self,
        path: str,
        depth: int,
        operation: Operation,
        call: kg.Call | None,
        args: Any,
        kwargs: dict[str, Any],
        output: Any,
        static: Any = None,
    ) -> LayerTrace:
        inputs = tuple(tensor_shape(t) for t in kg.flatten_tensors(args))
        outputs = kg.flatten_tensors(output)
        out = tensor_shape(outputs[0]) if outputs else None
        shared = self._seen_before(operation)
        if not shared:
            self.counted.update(id(w) for w in getattr(operation, "weights", ()))
        mechanism = why = None
        if inputs and out is not None and (len(inputs[0]) > 1 or len(out) > 1):
            if (inputs[0][-1] if len(inputs[0]) > 1 else None) != (out[-1] if len(out) > 1 else None):
                mechanism, why = explain_change(operation, inputs, out)
        # Tensors passed by keyword (``mha(query=x, value=y)``) are operands the cost needs too.
        named = {
            k: tensor_shape(ts[0]) for k, v in (kwargs or {}).items() if len(ts := kg.flatten_tensors(v)) == 1
        }
        cost = layer_cost(
            operation, inputs, out, sum(kg.nbytes(t) for t in outputs), shared=shared, named=named
        )
        row = LayerTrace(
            index=len(self.rows),
            path=path,
            name=operation.name,
            type=type(operation).__name__,
            depth=depth,
            inputs=inputs,
            declared_output=call.declared_output if call is not None else None,
            # Static inference costs a symbolic call per layer; where the actual inputs fit
            # the declared ones, Keras already inferred the answer when it built the graph.
            static_output=(
                static
                if call is None
                else call.declared_output
                if len(call.declared_inputs) == len(inputs)
                and all(map(shapes_compatible, call.declared_inputs, inputs))
                else kg.static_output_shapes(operation, args, kwargs)
            ),
            output=out,
            params=0 if shared else kg.layer_params(operation),
            why=why,
            mechanism=mechanism,
            shared=shared,
            trainable_params=cost.trainable_params,
            non_trainable_params=cost.non_trainable_params,
            macs=cost.macs,
            activation_bytes=cost.activation_bytes,
        )
        self.add(row)
        return row

    def container_row(
        self,
        slot: int,
        path: str,
        depth: int,
        layer: Layer,
        *,
        inputs: tuple[Shape, ...],
        outputs: list[Any],
        declared_output: Shape | None,
        declared_inputs: tuple[Shape, ...],
        new_outputs: list[Any],
        ops: OpsSeen | None = None,
    ) -> LayerTrace:
        """Fill ``slot`` with an opened block's row: its real input → output, and only the
        weights no row inside it counted (see :mod:`shapetrace.tracing.recorder`)."""
        shared = self._seen_before(layer)
        own = [w for w in layer.weights if id(w) not in self.counted]
        self.counted.update(id(w) for w in own)
        trainable_ids = {id(w) for w in layer.trainable_weights}
        trainable = sum(_size(w.shape) for w in own if id(w) in trainable_ids)
        params = sum(_size(w.shape) for w in own)
        out = tensor_shape(outputs[0]) if outputs else None
        mechanism = why = None
        if inputs and out is not None and channels_of(inputs[0]) != channels_of(out):
            # Only the calls observed inside are evidence of what the block's call did.
            inner = [r for r in self.rows[slot + 1 :] if r is not None and r.path.startswith(path + "/")]
            mechanism, why = explain_block(layer, inputs, out, inner)
        # Weights used directly in call() (not by a recorded sublayer): whatever the costs module
        # knows of them, unknown if nothing; the sublayers' MACs are on their own rows.
        macs = block_macs(
            layer,
            inputs,
            out,
            own_weights=[tuple(int(d) for d in w.shape) for w in own],
            own_ids=[id(w) for w in own],
            contractions=ops.contractions if ops is not None else 0,
            contraction_macs=ops.macs if ops is not None else 0,
            read_weights=ops.weights if ops is not None else set(),
        )
        fits = len(declared_inputs) == len(inputs) and all(map(shapes_compatible, declared_inputs, inputs))
        row = LayerTrace(
            index=slot,
            path=path,
            name=layer.name,
            type=type(layer).__name__,
            depth=depth,
            inputs=inputs,
            declared_output=declared_output,
            static_output=declared_output if declared_output is not None and fits else None,
            output=out,
            params=params,
            why=why,
            mechanism=mechanism,
            shared=shared,
            trainable_params=trainable,
            non_trainable_params=params - trainable,
            macs=macs,
            # Only tensors the block made itself (x + positions), not a sublayer's output passed on.
            activation_bytes=sum(kg.nbytes(t) for t in new_outputs),
            container=True,
        )
        self.rows[slot] = row
        return row

    def break_row(
        self,
        path: str,
        depth: int,
        operation: Operation,
        call: kg.Call | None,
        args: Any,
        message: str,
        expected: str | None = None,
    ) -> Break:
        inputs = tuple(tensor_shape(t) for t in kg.flatten_tensors(args))
        shared = self._seen_before(operation)
        if not shared:
            self.counted.update(id(w) for w in getattr(operation, "weights", ()))
        declared_inputs = call.declared_inputs if call is not None else ()
        built = kg.built_input_shapes(operation) if call is None else None
        declared_for_cause = declared_inputs or tuple(
            (None, *s[1:]) if len(s) > 1 else s for s in built or ()
        )
        cost = layer_cost(operation, inputs, None, 0, shared=shared)
        index = len(self.rows)
        self.add(
            LayerTrace(
                index=index,
                path=path,
                name=operation.name,
                type=type(operation).__name__,
                depth=depth,
                inputs=inputs,
                declared_output=call.declared_output if call is not None else None,
                static_output=None,
                output=None,
                params=0 if shared else kg.layer_params(operation),
                shared=shared,
                failed=True,
                trainable_params=cost.trainable_params,
                non_trainable_params=cost.non_trainable_params,
            )
        )
        return Break(
            index=index,
            layer=path,
            type=type(operation).__name__,
            expected=expected if expected is not None else _shapes_text(declared_inputs),
            received=_shapes_text(inputs),
            message=message,
            cause=break_cause(message, declared_for_cause, inputs),
        )


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


def walk_stream(
    model: Model, probes: list[Probe], arrays: list[Any], on_layer: Callable[[int], None] | None = None
) -> WalkResult:
    """Run ``arrays`` (one per model input) through ``model`` layer by layer.

    ``on_layer`` (progress) is called after each layer call with the number of rows so far.

    Returns:
        The boundary verdict, one row per executed call, and the break if any.
    """
    from shapetrace.tracing import jax_trace

    fast = jax_trace.walk(model, probes, arrays, on_layer)  # None: not JAX, or it stepped aside
    if fast is not None:
        return fast
    with kg.grouped_conv_without_xla():  # TensorFlow: no XLA compilation per grouped conv
        return walk_with(_Walker(on_layer), model, probes, arrays)


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
