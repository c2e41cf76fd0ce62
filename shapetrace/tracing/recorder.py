"""The call recorder: every layer call of a real forward pass, for code without a functional graph.

Subclassed models and user-defined layers have no graph to walk: what they do is
whatever their ``call`` does. The recorder runs such a call once, for real, with every
layer call made meanwhile routed through it (:func:`_keras_graph.recording_layer_calls`,
Keras 3's stand-in for torchinfo's module hooks), and turns those calls into rows:

* a **built-in Keras layer** (``Conv2D``, ``LSTM``, ``MultiHeadAttention``,
  ``Bidirectional``…) is one **leaf** row; the layers it calls inside are its own
  business and are not recorded;
* a **user-defined layer or subclassed model** (its class is defined outside the
  ``keras`` package) is **opened**: a **container** row comes first, with the block's
  real input → output, then one row per call made inside it, at any depth;
* a **Keras functional or Sequential model** called inside is walked through as Keras
  runs it: its layers are rows under its path, and it has no row of its own (exactly
  as the streaming engine shows nested models).

Container rows carry only what no row inside them carries: the weights the block
owns directly (``add_weight`` in the block itself, or sublayers it never called), so
the rows still add up to ``model.count_params()``; their MACs are 0 when they own no
weights and the costs module's answer for the layer otherwise (unknown, for a custom
kernel); sublayer costs stay on the sublayer rows, and ``--depth`` sums them into the
collapsed block. Operations done directly in ``call`` (``x + positions``, ``ops.relu``)
are not rows: the container row's output is where their effect shows.

A call that raises ends the recording at the innermost failing call: its row is the
last one, marked failed, with what the layer was built for versus what it received.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from shapetrace.messages import one_line
from shapetrace.records import Break, Shape, format_shape
from shapetrace.tracing import _keras_graph as kg
from shapetrace.tracing.costs import op_macs
from shapetrace.tracing.rows import OpsSeen, tensor_shape

if TYPE_CHECKING:
    from shapetrace.tracing.rows import RowMaker

__all__ = ["CallRecorder", "RecordingStopped", "is_opened", "is_user_defined"]

# A class defined in one of these packages is part of Keras: one leaf row.
_KERAS_PACKAGES = ("keras", "tf_keras", "tensorflow")


def is_user_defined(layer: Any) -> bool:
    """The layer's class is the user's own (defined outside Keras/TensorFlow)."""
    module = type(layer).__module__ or ""
    return module.split(".", 1)[0] not in _KERAS_PACKAGES


def is_opened(layer: Any) -> bool:
    """A call the recorder expands into its sublayer calls (user-defined classes)."""
    return is_user_defined(layer)


class RecordingStopped(Exception):
    """A recorded call raised; the recorder's ``broken`` says where."""


@dataclass
class _Frame:
    layer: Any
    path: str
    depth: int
    kind: str
    """``leaf``, ``container`` or ``graph`` (a Keras model walked through without a row)."""
    child_prefix: str
    child_depth: int
    slot: int | None = None
    """Row index reserved for a container row (filled when the call returns)."""
    declared_output: Shape | None = None
    declared_inputs: tuple[Shape, ...] = ()
    child_outputs: dict[int, Any] = field(default_factory=dict)
    """The sublayers' outputs by id. The tensors are held, not just their ids: a freed
    tensor's id is reused by the next one made, which would then pass for a sublayer's."""
    ops: OpsSeen = field(default_factory=lambda: OpsSeen())
    """The ``keras.ops`` contractions and weight reads this call made itself."""


def _input_tensors(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
    tensors = kg.flatten_tensors(args)
    if not tensors:  # called with keywords only: layer(inputs=x)
        tensors = kg.flatten_tensors({k: v for k, v in kwargs.items() if "mask" not in k})
    return tensors


class CallRecorder:
    """Records the layer calls of one real call into a shared ``RowMaker`` (see the module doc)."""

    def __init__(self, maker: RowMaker) -> None:
        self.maker = maker
        self.stack: list[_Frame] = []
        self.broken: Break | None = None
        self._root: _Frame | None = None

    # ------------------------------------------------------------------ entry point
    def run(
        self,
        operation: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        path: str,
        depth: int,
        child_depth: int | None = None,
        declared_output: Shape | None = None,
        declared_inputs: tuple[Shape, ...] = (),
    ) -> Any:
        """Run ``operation(*args, **kwargs)`` in inference mode, recording it and every call inside.

        Returns:
            The call's real output.

        Raises:
            RecordingStopped: the call raised; ``self.broken`` is its break row.
        """
        self._root = _Frame(
            operation,
            path,
            depth,
            "container",
            path + "/",
            depth + 1 if child_depth is None else child_depth,
            declared_output=declared_output,
            declared_inputs=declared_inputs,
        )
        try:
            with kg.recording_layer_calls(self._on_call), kg.recording_op_calls(self._on_op):
                return kg.run_call(operation, args, kwargs)
        except RecordingStopped:
            raise
        except Exception as error:
            if self.broken is None:  # raised before any recorded call began (argument conversion)
                self._break(self._root, args, kwargs, error)
            raise RecordingStopped from None
        finally:
            self.stack.clear()

    # ------------------------------------------------------------------ the handler
    def _on_call(
        self, layer: Any, args: tuple[Any, ...], kwargs: dict[str, Any], proceed: Callable[[], Any]
    ) -> Any:
        parent = self.stack[-1] if self.stack else None
        if (parent is not None and parent.kind == "leaf") or kg.is_symbolic_call(args, kwargs):
            return proceed()  # inside a built-in layer, or Keras building/inferring symbolically
        frame = self._frame_for(layer, parent)
        if parent is not None and parent.kind == "container":
            # A weight handed to a sublayer (``self.pos(self.position_ids)``): read by a recorded call.
            parent.ops.weights.update(id(v) for v in kg.flatten((args, kwargs)) if kg.is_variable(v))
        if frame.kind == "container":
            frame.slot = len(self.maker.rows)
            self.maker.add(None)  # the container row goes first; it is filled when the call returns
        self.stack.append(frame)
        try:
            output = proceed()
            if not kg.flatten_tensors(output):
                # Eager code lets a call return None or a number; the next layer would then have
                # nothing to take, so a row showing "-" and a verdict of ok would be false.
                raise TypeError(
                    f"{type(layer).__name__}.call returned {type(output).__name__}, not a tensor "
                    "(a layer must return tensors)"
                )
        except Exception as error:
            if self.broken is None:
                self._break(frame, args, kwargs, error)
            elif frame.kind == "container" and frame.slot is not None:
                self._finish(frame, args, kwargs, None)  # a block the failure passed through
            raise
        finally:
            self.stack.pop()
        if self.broken is not None:
            self._swallowed()
        self._finish(frame, args, kwargs, output)
        if parent is not None:
            parent.child_outputs.update((id(t), t) for t in kg.flatten_tensors(output))
        return output

    def _on_op(self, name: str, arguments: dict[str, Any], result: Any) -> None:
        """A ``keras.ops`` call: counted on the innermost block whose own ``call`` made it (inside
        a built-in layer, the layer's cost rule already counts it)."""
        frame = self.stack[-1] if self.stack else None
        if frame is None or frame.kind != "container" or kg.is_symbolic_call((), arguments):
            return
        seen = frame.ops
        weights = [
            seen.aliases[id(v)][0] if id(v) in seen.aliases else id(v)
            for v in kg.flatten(list(arguments.values()))
            if kg.is_variable(v) or id(v) in seen.aliases
        ]
        if name in kg.ALIAS_OPS:
            if weights:
                seen.aliases[id(result)] = (weights[0], result)
            return
        seen.weights.update(weights)
        if name not in kg.CONTRACTION_OPS:
            return
        shapes = {
            key: (
                tuple(kg.shape_of(v) for v in value)
                if isinstance(value, (list, tuple)) and key == "operands"
                else kg.shape_of(value)
                if kg.shape_of(value) is not None
                else value
            )
            for key, value in arguments.items()
        }
        outputs = kg.flatten_tensors(result)
        macs = op_macs(name, shapes, kg.shape_of(outputs[0]) if outputs else None)
        seen.contractions += 1
        seen.macs = None if macs is None or seen.macs is None else seen.macs + macs

    def _frame_for(self, layer: Any, parent: _Frame | None) -> _Frame:
        if parent is None:
            root = self._root
            assert root is not None and layer is root.layer
            if kg.is_model(layer) and not is_user_defined(layer):
                root.kind = "graph"
            return root
        path = parent.child_prefix + layer.name
        if is_opened(layer):
            kind = "container"
        elif kg.is_model(layer):
            kind = "graph"
        else:
            kind = "leaf"
        return _Frame(layer, path, parent.child_depth, kind, path + "/", parent.child_depth + 1)

    # ------------------------------------------------------------------ rows
    def _finish(self, frame: _Frame, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> None:
        if frame.kind == "leaf":
            self.maker.layer_row(
                frame.path,
                frame.depth,
                frame.layer,
                None,
                tuple(_input_tensors(args, kwargs)),
                {},
                output,
                static=self._static_of(frame.layer, args, kwargs),
            )
        elif frame.kind == "container":
            assert frame.slot is not None  # reserved when the call began
            outputs = [] if output is None else kg.flatten_tensors(output)
            self.maker.container_row(
                frame.slot,
                frame.path,
                frame.depth,
                frame.layer,
                inputs=tuple(tensor_shape(t) for t in _input_tensors(args, kwargs)),
                outputs=outputs,
                declared_output=frame.declared_output,
                declared_inputs=frame.declared_inputs,
                new_outputs=[t for t in outputs if id(t) not in frame.child_outputs],
                ops=frame.ops,
            )

    @staticmethod
    def _static_of(layer: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Shape | None:
        # Keras's static inference for the real inputs: the "§" comparison of the story.
        return kg.static_output_shapes(layer, args, kwargs)

    def _break(self, frame: _Frame, args: tuple[Any, ...], kwargs: dict[str, Any], error: Exception) -> None:
        tensors = _input_tensors(args, kwargs)
        expected = kg.expected_input(frame.layer)
        if frame.declared_inputs:
            expected = ", ".join(format_shape(s) for s in frame.declared_inputs)
        if frame.kind == "container" and frame.slot is not None:
            self.maker.drop(frame.slot)  # the failing block's row ends the table, after its insides
            frame.slot = None
        self.broken = self.maker.break_row(
            frame.path,
            frame.depth,
            frame.layer,
            None,
            tuple(tensors),
            one_line(error),
            expected=expected or "-",
        )

    def _swallowed(self) -> None:
        """User code caught a sublayer's exception and went on: that call is no break after all."""
        broken, self.broken = self.broken, None
        assert broken is not None  # called only after a break
        row = self.maker.rows[broken.index]
        if row is not None:
            self.maker.rows[broken.index] = replace(row, failed=False)
