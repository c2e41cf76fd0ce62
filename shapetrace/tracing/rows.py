"""One row per layer call: the ``LayerTrace`` records both engines and the call recorder build.

Shared by the stream engine (:mod:`~shapetrace.tracing.engine`), the call recorder
(:mod:`~shapetrace.tracing.recorder`) and the submodels engine, so they agree by construction on
everything except the shapes they observe.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from shapetrace.records import (
    Break,
    LayerTrace,
    Shape,
    break_cause,
    channels_of,
    format_shape,
    shapes_compatible,
)
from shapetrace.tracing import _keras_graph as kg
from shapetrace.tracing.costs import block_macs, layer_cost
from shapetrace.tracing.explain import explain_block, explain_change

if TYPE_CHECKING:
    from keras import Layer, Operation

__all__ = ["RowMaker", "OpsSeen", "tensor_shape"]


@dataclass
class OpsSeen:
    """What a block's own ``call`` did with ``keras.ops`` (not its sublayers: they have rows)."""

    macs: int | None = 0
    """MACs of its contractions; ``None`` once one of unknown cost ran."""
    contractions: int = 0
    weights: set[int] = field(default_factory=set)
    """Ids of the weights (variables) an op read: a contraction counted them, a lookup is free."""
    aliases: dict[int, tuple[int, Any]] = field(default_factory=dict)
    """A weight converted or cast (``ops.convert_to_tensor(self.table)``): its id → (weight id,
    the tensor, held so its id is not reused)."""


def tensor_shape(tensor: Any) -> Shape:
    """A tensor's shape as the records hold it: integers, ``None`` for an unknown dimension."""
    return tuple(int(d) if d is not None else None for d in tensor.shape)


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
