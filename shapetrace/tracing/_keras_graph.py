"""The only module that touches Keras's private graph API.

Checked against Keras 3.13 – 3.15 on TensorFlow, and Keras 3.15 on JAX and PyTorch.
A Keras upgrade that renames any of ``_nodes_by_depth``, ``node.arguments.fill_in``,
``Functional._standardize_inputs``, ``Layer._assert_input_compatibility``,
``Sequential._functional``, ``keras.src.models.functional.operation_fn``,
``Layer._build_shapes_dict``, ``Layer._flatten_layers``, ``in_symbolic_scope``,
``Functional._inputs_struct``, ``keras.src.backend.compute_output_spec``, the ``Layer.__call__``
entry point that :func:`recording_layer_calls` wraps or the ``keras.ops`` / ``keras.src.ops``
module attributes that :func:`recording_op_calls` wraps should need changes here and
nowhere else.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # types only: keras is imported below, quietly
    from keras import Layer, Model, Operation

from shapetrace.messages import one_line

__all__ = [
    "keras",
    "Call",
    "Graph",
    "graph_of",
    "admit_inputs",
    "run_call",
    "static_output_shapes",
    "reset_naming",
    "input_layer_names",
    "input_lineage",
    "recording_layer_calls",
    "is_symbolic_call",
    "built_input_shapes",
    "sublayers",
    "expected_input",
    "call_argument_names",
    "model_inputs",
    "input_consumers",
    "input_structure",
    "input_paths",
    "pack_inputs",
    "required_call_arguments",
    "built_call_inputs",
    "argument_shapes_from_sublayers",
    "recording_op_calls",
    "grouped_conv_without_xla",
    "CONTRACTION_OPS",
    "LOOKUP_OPS",
    "ALIAS_OPS",
    "is_variable",
    "shape_of",
    "backend_name",
    "versions",
    "is_tensor_like",
    "replaced_backend_random",
    "jax_seed",
    "tensorflow_left_unloaded",
]


def _import_keras_quietly() -> Any:
    """Import Keras (and its backend) without TensorFlow's C++ start-up chatter.

    The backend is the user's: ``KERAS_BACKEND``, else ``~/.keras/keras.json``, else
    Keras's own default (TensorFlow). TensorFlow is imported here only when it is that
    backend — a JAX user's trace never pays for it. TensorFlow logs oneDNN/CUDA notices
    straight to file descriptor 2 before Python can filter them; a user reading a shape
    table should not see them. On failure the captured output is replayed so nothing is
    hidden. Nothing global is set here (no environment variable, no logger level): the CLI's
    entry point quiets TensorFlow's logs for its own process (``shapetrace.cli.app.main``).
    """
    if "keras" in sys.modules:
        import keras as _keras

        return _keras
    try:
        saved = os.dup(2)
    except OSError:  # no usable stderr (embedded interpreters): import plainly
        import keras as _keras

        return _keras
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            import keras as _keras

            if _keras.backend.backend() == "tensorflow":
                _quiet_tensorflow()
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        sink.seek(0)
        _replay_real_errors(sink.read().decode(errors="replace"))
    return _keras


def _quiet_tensorflow() -> None:
    import tensorflow as _tf  # the backend, loaded now while muted

    # Devices are probed at the first op, after the import: without a GPU that logs
    # "failed call to cuInit" at ERROR level (shown unless TF_CPP_MIN_LOG_LEVEL=3).
    # Probing them here, still muted, keeps that line out of the user's stderr.
    # Physical devices only: logical devices can still be configured afterwards.
    _tf.config.list_physical_devices()


# Start-up lines of ERROR severity that every CPU-only machine prints: not news.
_BENIGN_STARTUP = re.compile(
    r"cuInit|cuda drivers|CUDA driver|Unable to register cu(DNN|FFT|BLAS) factory|TF-TRT"
)


def _replay_real_errors(captured: str) -> None:
    """Pass on what TensorFlow logged at ERROR/FATAL level while muted, except known chatter."""
    for line in captured.splitlines():
        if re.match(r"[EF]\d{4} ", line) and not _BENIGN_STARTUP.search(line):
            sys.stderr.write(line + "\n")


try:
    keras = _import_keras_quietly()
except (ImportError, ValueError) as _error:  # KERAS_BACKEND=bogus, or a backend not installed
    from shapetrace.backends import backend_unavailable

    raise backend_unavailable(_error) from None

from keras import tree  # noqa: E402
from keras.src.models.functional import Functional, operation_fn  # noqa: E402
from keras.src.models.sequential import Sequential  # noqa: E402


@dataclass(frozen=True)
class Call:
    """One node of a functional graph: a layer applied to some tensors."""

    operation: Any
    node: Any
    input_refs: tuple[Any, ...]
    """The symbolic tensors the node consumes (keys for the tensor map are their ids)."""
    output_refs: tuple[Any, ...]

    def fill(self, tensors: dict[int, Any]) -> tuple[tuple, dict]:
        """The call's positional and keyword arguments with real tensors in place."""
        args, kwargs = self.node.arguments.fill_in(tensors)
        return tuple(args), dict(kwargs)

    @property
    def declared_output(self) -> tuple[int | None, ...] | None:
        return tuple(self.output_refs[0].shape) if self.output_refs else None

    @property
    def declared_inputs(self) -> tuple[tuple[int | None, ...], ...]:
        return tuple(tuple(ref.shape) for ref in self.input_refs)


@dataclass(frozen=True)
class Graph:
    """A model's graph in execution order."""

    model: Any
    inputs: tuple[Any, ...]
    outputs: tuple[Any, ...]
    calls: tuple[Call, ...]
    input_layers: tuple[Any, ...]


def _functional_of(model: Any) -> Functional | None:
    if isinstance(model, Sequential):
        return model._functional  # None until the Sequential knows its input shape
    if isinstance(model, Functional):
        return model
    return None


def graph_of(model: Operation) -> Graph | None:
    """The model's graph, or ``None`` for a layer or subclassed model (walked as one call)."""
    functional = _functional_of(model)
    if functional is None:
        return None
    calls = []
    for depth in sorted(functional._nodes_by_depth, reverse=True):
        for node in functional._nodes_by_depth[depth]:
            if not node.operation or node.is_input:
                continue
            calls.append(
                Call(
                    operation=node.operation,
                    node=node,
                    input_refs=tuple(node.input_tensors),
                    output_refs=tuple(node.outputs),
                )
            )
    return Graph(
        model=model,
        inputs=tuple(functional.inputs),
        outputs=tuple(functional.outputs),
        calls=tuple(calls),
        input_layers=tuple(ref._keras_history.operation for ref in functional.inputs),
    )


def is_model(operation: Operation) -> bool:
    return isinstance(operation, keras.Model)


def admit_inputs(model: Model, tensors: list[Any]) -> tuple[bool, str | None, list[Any]]:
    """What ``model(...)`` does to the tensors before its first layer runs.

    Runs the model's own checks, in the order ``Layer.__call__`` and
    ``Functional.call`` run them: the input spec (which squeezes a trailing axis
    of size 1 before comparing), then the rank adjustment that squeezes or
    expands a trailing axis of size 1.

    Returns:
        ``(accepted, reason, tensors as the first layer will see them)``.
    """
    first_arg = pack_inputs(model, tensors)
    try:
        model._assert_input_compatibility(first_arg)
        functional = _functional_of(model)
        adjusted = list(functional._standardize_inputs(first_arg)) if functional else list(tensors)
    except (ValueError, TypeError) as error:
        return False, one_line(error), list(tensors)
    note = None
    changed = [
        (tuple(a.shape), tuple(b.shape))
        for a, b in zip(tensors, adjusted)
        if tuple(a.shape) != tuple(b.shape)
    ]
    if changed:
        note = "; ".join(f"Keras reshaped the input {a} to {b}" for a, b in changed)
    return True, note, adjusted


def input_structure(model: Operation) -> Any:
    """The structure a functional model declares its inputs in (a dict, a nested list…), else ``None``.

    Keras keeps it as ``Functional._inputs_struct``; ``model.inputs`` is its ``tree.flatten``
    (so a dict's inputs come in sorted-key order there, whatever order it was declared in).
    """
    functional = _functional_of(model)
    return None if functional is None else getattr(functional, "_inputs_struct", None)


def input_paths(model: Operation) -> list[tuple[Any, ...]]:
    """Per flat model input, its path in :func:`input_structure` (``("token_ids",)``; ``()`` for one tensor)."""
    struct = input_structure(model)
    if struct is None:
        return []
    return [tuple(path) for path, _ in tree.flatten_with_path(struct)]


def pack_inputs(model: Operation, tensors: list[Any]) -> Any:
    """``tensors`` (one per flat input) in the structure the model declares: what a user passes."""
    struct = input_structure(model)
    if struct is not None and len(tree.flatten(struct)) == len(tensors):
        return tree.pack_sequence_as(struct, list(tensors))
    return tensors[0] if len(tensors) == 1 else list(tensors)


def run_call(operation: Operation, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Apply one layer in inference mode, exactly as ``Functional.call`` would."""
    return operation_fn(operation, training=False)(*args, **kwargs)


def static_output_shapes(operation: Operation, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Keras's static shape inference for these inputs (``None`` if it refuses)."""
    symbolic = tree.map_structure(
        lambda t: keras.KerasTensor(tuple(t.shape), dtype=t.dtype) if _is_tensor(t) else t,
        (args, kwargs),
    )
    sargs, skwargs = symbolic
    skwargs = {k: v for k, v in skwargs.items() if k != "training"}
    try:
        spec = operation.compute_output_spec(*sargs, **skwargs)
    except Exception:  # inference can refuse what the real call refuses
        return None
    flat = [s for s in tree.flatten(spec) if hasattr(s, "shape")]
    return tuple(flat[0].shape) if flat else None


def _is_tensor(value: Any) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(value, keras.KerasTensor)


def is_tensor_like(value: Any) -> bool:
    """A real (or, on JAX, abstract ``ShapeDtypeStruct``) tensor, not a symbolic Keras one."""
    return _is_tensor(value)


@contextmanager
def replaced_backend_random(**functions: Callable[..., Any]) -> Iterator[None]:
    """Replace functions of the backend's random module (what initializers call) for the block."""
    from keras.src.backend import random as backend_random

    saved = {name: getattr(backend_random, name) for name in functions}
    try:
        for name, function in functions.items():
            setattr(backend_random, name, function)
        yield
    finally:
        for name, function in saved.items():
            setattr(backend_random, name, function)


@contextmanager
def tensorflow_left_unloaded() -> Iterator[None]:
    """While the block runs, Keras treats TensorFlow as not installed, unless it is the backend or
    already loaded: Keras probes ``tf.available`` (importing TensorFlow, seconds) in
    ``set_random_seed`` and on every ``model.save``, only to recognise TensorFlow objects that
    cannot exist in a process that never imported it."""
    from keras.src.utils import module_utils

    lazy = module_utils.tensorflow
    if backend_name() == "tensorflow" or "tensorflow" in sys.modules or lazy._available is not None:
        yield
        return
    lazy._available = False
    try:
        yield
    finally:
        lazy._available = None


def _depthwise_conv_by_slices(original: Callable[..., Any]) -> Callable[..., Any]:
    """Keras's JAX ``depthwise_conv`` as a sum of K×K shifted, strided slices times the kernel
    taps: the same numbers (float32 rounding), another route. XLA:CPU rewrites the grouped
    convolution's filter gradient into a dense C×C convolution and runs the strided input gradient
    on a slow generic path: EfficientNetB0's depthwise layers took 1.6 s a training step on 2 cores
    against TensorFlow's 52 ms; by slices 46 ms (benchmarks/bench_train.py --backends)."""
    import jax.numpy as jnp
    from jax import lax
    from keras.src.backend import standardize_data_format

    def depthwise_conv(
        inputs: Any,
        kernel: Any,
        strides: Any = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: Any = 1,
    ) -> Any:
        data_format = standardize_data_format(data_format)
        inputs, kernel = jnp.asarray(inputs), jnp.asarray(kernel)
        if inputs.ndim != 4 or data_format != "channels_last":  # only the 2-D case is rewritten
            return original(inputs, kernel, strides, padding, data_format, dilation_rate)
        stride = (strides, strides) if isinstance(strides, int) else tuple(strides)
        dilation = (dilation_rate, dilation_rate) if isinstance(dilation_rate, int) else tuple(dilation_rate)
        kh, kw, channels, multiplier = kernel.shape
        n, h, w, _ = inputs.shape
        reach = ((kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1)
        pads = lax.padtype_to_pads((h, w), reach, stride, padding.upper())
        x = jnp.pad(inputs, ((0, 0), tuple(pads[0]), tuple(pads[1]), (0, 0)))
        out_h = (x.shape[1] - reach[0]) // stride[0] + 1
        out_w = (x.shape[2] - reach[1]) // stride[1] + 1
        if multiplier != 1:
            x = jnp.repeat(x, multiplier, axis=-1)  # output channel c·M+m, as the grouped conv orders them
        taps = kernel.reshape(kh, kw, channels * multiplier).astype(x.dtype)
        total = None
        for i in range(kh):
            for j in range(kw):
                a, b = i * dilation[0], j * dilation[1]
                end = (n, a + (out_h - 1) * stride[0] + 1, b + (out_w - 1) * stride[1] + 1, x.shape[3])
                term = lax.slice(x, (0, a, b, 0), end, (1, stride[0], stride[1], 1)) * taps[i, j]
                total = term if total is None else total + term
        return total

    return depthwise_conv


@contextmanager
def depthwise_conv_by_slices() -> Iterator[None]:
    """On JAX, for the block, Keras's depthwise convolution (``DepthwiseConv2D``, ``SeparableConv2D``)
    runs as :func:`_depthwise_conv_by_slices`; elsewhere nothing changes. Used while training:
    the model, its weights and saved files are the same, only the compiled step is faster.
    Checked against Keras 3.15 (``keras.src.backend.jax.nn.depthwise_conv``, looked up at call time)."""
    with _backend_op_rerouted("jax", "depthwise_conv", _depthwise_conv_by_slices):
        yield


def _grouped_conv_without_xla(original: Callable[..., Any]) -> Callable[..., Any]:
    """Keras's TensorFlow ``conv`` for a grouped convolution, without XLA. TensorFlow cannot run a
    grouped convolution on CPU, so Keras compiles each such call with XLA, afresh for every call
    (a new ``tf.function`` each time): a probe through ConvNeXtTiny paid 18 compilations, more
    time than building the model. A depthwise grouping (one input channel per group) runs as
    Keras's own ``depthwise_conv``; any other as one ordinary convolution per group, concatenated.
    The same numbers (float32 rounding), another route; anything else is left to ``original``."""
    import tensorflow as tf
    from keras.src.backend import standardize_data_format
    from keras.src.backend.tensorflow import nn as tf_nn

    def conv(
        inputs: Any,
        kernel: Any,
        strides: Any = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: Any = 1,
    ) -> Any:
        args = (strides, padding, data_format, dilation_rate)
        inputs, kernel = tf.convert_to_tensor(inputs), tf.convert_to_tensor(kernel)
        channels, per_group, filters = inputs.shape[-1], kernel.shape[-2], kernel.shape[-1]
        if (
            standardize_data_format(data_format) != "channels_last"
            or not isinstance(channels, int)
            or channels == per_group
            or channels % per_group
            or filters % (channels // per_group)
        ):
            return original(inputs, kernel, *args)  # not a grouping Keras sends to XLA, or a misfit
        groups = channels // per_group
        if per_group == 1 and inputs.shape.rank in (3, 4):
            # Output channel g·M+m comes from input channel g in both layouts.
            depthwise = tf.reshape(kernel, (*kernel.shape[:-2], channels, filters // channels))
            as_tuple = [tuple(a) if isinstance(a, list) else a for a in (strides, dilation_rate)]
            return tf_nn.depthwise_conv(inputs, depthwise, as_tuple[0], padding, data_format, as_tuple[1])
        pieces = zip(tf.split(inputs, groups, axis=-1), tf.split(kernel, groups, axis=-1), strict=True)
        return tf.concat([original(x, k, *args) for x, k in pieces], axis=-1)

    return conv


@contextmanager
def grouped_conv_without_xla() -> Iterator[None]:
    """On TensorFlow, for the block, Keras's grouped convolutions (``Conv*D(groups=…)``) run as
    :func:`_grouped_conv_without_xla`; elsewhere nothing changes. Used by the trace's real pass.
    Checked against Keras 3.15 (``keras.src.backend.tensorflow.nn.conv``, looked up at call time
    by ``keras.ops.conv``)."""
    with _backend_op_rerouted("tensorflow", "conv", _grouped_conv_without_xla):
        yield


@contextmanager
def _backend_op_rerouted(
    backend: str, name: str, reroute: Callable[[Callable[..., Any]], Callable[..., Any]]
) -> Iterator[None]:
    """On ``backend`` only, for the block, ``keras.src.backend.<backend>.nn.<name>`` is
    ``reroute(original)``; Keras's ops look it up at call time. Restored however the block ends."""
    if backend_name() != backend:
        yield
        return
    import importlib

    module = importlib.import_module(f"keras.src.backend.{backend}.nn")
    original = getattr(module, name)
    setattr(module, name, reroute(original))
    try:
        yield
    finally:
        setattr(module, name, original)


def jax_seed(seed: Any) -> Any:
    """The JAX key Keras's JAX backend draws for ``seed`` (an int, a SeedGenerator or None)."""
    from keras.src.backend.jax.random import jax_draw_seed

    return jax_draw_seed(seed)


def flatten_tensors(structure: Any) -> list[Any]:
    return [t for t in tree.flatten(structure) if _is_tensor(t)]


def flatten(structure: Any) -> list[Any]:
    return list(tree.flatten(structure))


def convert(array: Any, dtype: Any) -> Any:
    if getattr(dtype, "kind", None) in ("O", "U", "S"):  # a text probe: a string tensor (TensorFlow)
        return keras.ops.convert_to_tensor(array, dtype="string")
    return keras.ops.convert_to_tensor(array, dtype=dtype)


def nbytes(tensor: Any) -> int:
    size = 1
    for dim in tensor.shape:
        size *= int(dim)
    return size * _itemsize(tensor.dtype)


def itemsize(dtype: Any) -> int:
    """Bytes per element of a tensor dtype."""
    return _itemsize(dtype)


def _itemsize(dtype: Any) -> int:
    import numpy as np

    name = keras.backend.standardize_dtype(dtype)
    try:
        return np.dtype(name).itemsize
    except TypeError:
        return 2 if "16" in name else 4


def layer_params(layer: Operation) -> int:
    """Weights owned by ``layer`` (0 for a bare op like ``keras.ops.add``, or when unbuilt)."""
    if not hasattr(layer, "count_params"):
        return 0
    try:
        return int(layer.count_params())
    except ValueError:  # unbuilt layers refuse to count
        return 0


def reset_naming() -> None:
    """Start auto-generated layer names afresh (``conv2d``, not ``conv2d_7``)."""
    # Not keras.backend.clear_session(): that also resets the user's global Keras settings
    # (dtype policy, traceback filtering, interactive logging) — a library call must not.
    from keras.src.utils import naming

    naming.reset_uids()


def input_layer_names(model: Model) -> list[str]:
    """The name of the InputLayer behind each model input (``image``, ``input_layer``)."""
    names = []
    for i, ref in enumerate(model.inputs):
        history = getattr(ref, "_keras_history", None)
        operation = getattr(history, "operation", None)
        names.append(getattr(operation, "name", None) or getattr(ref, "name", None) or f"input_{i}")
    return names


def input_lineage(model: Model, names: list[str] | None = None) -> list[tuple[str, tuple[str, ...]]]:
    """``(row path, names of the model inputs it depends on)`` for every call, in walk order.

    Paths are built as the engines build them (``model/…/layer``); nested models map
    their own inputs to the outer tensors they are called on. ``names`` labels the
    inputs (default: their InputLayer names).
    """
    graph = graph_of(model)
    if graph is None:
        return []
    names = list(names) if names is not None else input_layer_names(model)
    prefix = model.name + "/"
    out: list[tuple[str, tuple[str, ...]]] = [
        (prefix + layer.name, (name,)) for layer, name in zip(graph.input_layers, names)
    ]
    _lineage(graph, [(name,) for name in names], prefix, out)
    return out


def _lineage(
    graph: Graph, sources_in: list[tuple[str, ...]], prefix: str, out: list
) -> list[tuple[str, ...]]:
    sources = {id(ref): s for ref, s in zip(graph.inputs, sources_in)}
    for call in graph.calls:
        if any(id(ref) not in sources for ref in call.input_refs):
            continue  # unreachable from the inputs, skipped by the engines too
        per_input = [sources[id(ref)] for ref in call.input_refs]
        union = tuple(sorted({name for s in per_input for name in s}))
        path = prefix + call.operation.name
        inner = graph_of(call.operation) if is_model(call.operation) else None
        if inner is not None:
            feed = per_input if len(per_input) == len(inner.inputs) else [union] * len(inner.inputs)
            _lineage(inner, feed, path + "/", out)
        else:
            out.append((path, union))
        for ref in call.output_refs:
            sources[id(ref)] = union
    return [sources.get(id(ref), ()) for ref in graph.outputs]


def backend_name() -> str:
    """The backend Keras runs on in this process (``tensorflow``, ``jax``, ``torch``, ``numpy``)."""
    return keras.backend.backend()


def versions() -> dict[str, str]:
    """Keras, its backend and the backend package's version: what a result was computed with.

    The version comes from the installed package's metadata, so recording it imports
    nothing (TensorFlow stays unloaded on JAX).
    """
    from importlib import metadata

    from shapetrace.backends import BACKEND_PACKAGES

    backend = backend_name()
    found = {"keras": keras.__version__, "backend": backend}
    package = BACKEND_PACKAGES.get(backend)
    if package is not None:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return found


def consumers_of(model: Model, layer: Layer) -> list[Any]:
    """The layers of ``model`` that take ``layer``'s output as an input, in graph order.

    (Used by ``shapetrace train --adapt sum-stem`` to find the first convolution.)
    """
    graph = graph_of(model)
    found: list[Any] = []
    for call in graph.calls if graph is not None else ():
        if call.operation in found:
            continue
        if any(ref._keras_history.operation is layer for ref in call.input_refs):
            found.append(call.operation)
    return found


# --------------------------------------------------------------------------- call recording
#
# Keras 3 has no module hooks (torchinfo's way of seeing every call). The equivalent:
# wrap the one entry point every layer call goes through, ``Layer.__call__`` (subclasses
# that define their own ``__call__`` — preprocessing ``DataLayer`` — reach it through
# ``super()``, which looks the attribute up at call time). The wrapper is installed only
# while a recorder is active, restored when the last one leaves, and hands calls to a
# handler kept per thread: a trace in one thread never records (or slows beyond one
# attribute lookup) the layer calls another thread makes meanwhile.
# Checked against Keras 3.13 – 3.15.

_Handler = Callable[[Any, tuple, dict, Callable[[], Any]], Any]
_local = threading.local()
_install_lock = threading.Lock()
_installed: dict[str, Any] = {"count": 0, "original": None}


def _recording_call(self: Any, *args: Any, **kwargs: Any) -> Any:
    handler = getattr(_local, "handler", None)
    original = _installed["original"]
    if handler is None:
        return original(self, *args, **kwargs)
    return handler(self, args, kwargs, lambda: original(self, *args, **kwargs))


@contextmanager
def recording_layer_calls(handler: _Handler) -> Iterator[None]:
    """Route every layer call made by this thread through ``handler`` while the block runs.

    ``handler(layer, args, kwargs, proceed)`` must return what ``proceed()`` returns (the
    layer's real output); it decides what to record. Nested use in one thread is refused.
    """
    from keras.src.layers.layer import Layer

    if getattr(_local, "handler", None) is not None:
        raise RuntimeError("layer calls are already being recorded in this thread")
    with _install_lock:
        if _installed["count"] == 0:
            if Layer.__call__ is not _recording_call:
                _installed["original"] = Layer.__call__
            Layer.__call__ = _recording_call
        _installed["count"] += 1
    _local.handler = handler
    try:
        yield
    finally:
        _local.handler = None
        with _install_lock:
            _installed["count"] -= 1
            if _installed["count"] == 0:
                # ``original`` stays set: a call another thread began through the wrapper just
                # before this restore still finds the real ``__call__``.
                Layer.__call__ = _installed["original"]


def is_symbolic_call(args: tuple, kwargs: dict) -> bool:
    """A call on symbolic tensors (Keras building a layer or inferring shapes), not a real one.

    Besides Keras tensors, Keras builds an unbuilt subclassed model by running its call
    on placeholders (``compute_output_spec``): inside a TensorFlow graph (not eager) on
    TensorFlow, on tracers under ``jax.eval_shape`` on JAX, on ``meta``-device tensors on
    PyTorch. None of these is the real run.
    """
    from keras.src.backend.common.symbolic_scope import in_symbolic_scope

    # Every backend's compute_output_spec runs inside a SymbolicScope; PyTorch's may even fall
    # back to real zero tensors there, so the scope is the one sign common to all of them.
    if in_symbolic_scope():
        return True
    if backend_name() == "tensorflow":
        import tensorflow as tf

        if not tf.executing_eagerly():
            return True
    flat = tree.flatten((args, kwargs))
    if any(isinstance(t, keras.KerasTensor) for t in flat):
        return True
    if backend_name() == "jax":
        import jax

        return any(isinstance(t, jax.core.Tracer) for t in flat)
    if backend_name() == "torch":
        import torch

        return any(isinstance(t, torch.Tensor) and t.device.type == "meta" for t in flat)
    return False


def built_input_shapes(layer: Layer) -> list[tuple[int | None, ...]] | None:
    """The input shapes (with the batch axis) a built layer or subclassed model was first called with.

    Keras keeps them to rebuild the object on load (``_build_shapes_dict``); ``None``
    when the object was never built or did not record them.
    """
    shapes = getattr(layer, "_build_shapes_dict", None)
    if not layer.built or not shapes:
        return None
    found: list[tuple[int | None, ...]] = []
    for value in shapes.values():
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, (list, tuple)) and value and isinstance(value[0], (list, tuple)):
            found.extend(tuple(v) for v in value)
        elif isinstance(value, (list, tuple)):
            found.append(tuple(value))
    return found or None


def sublayers(layer: Layer) -> list[Any]:
    """Every layer tracked inside ``layer``, at any depth (not ``layer`` itself)."""
    return list(layer._flatten_layers(include_self=False, recursive=True))


def expected_input(layer: Operation) -> str | None:
    """What a layer is set up to take, for a break row: the shape it was built for, else its input spec."""
    shapes = built_input_shapes(layer)
    if shapes:
        # The first axis is the batch (any size) unless the layer saw a bare vector.
        return ", ".join(
            "("
            + ", ".join("None" if (i == 0 and len(s) > 1) or d is None else str(d) for i, d in enumerate(s))
            + ("," if len(s) == 1 else "")
            + ")"
            for s in shapes
        )
    spec = layer.input_spec
    spec = spec[0] if isinstance(spec, (list, tuple)) and spec else spec
    if spec is None:
        return None
    if spec.shape is not None:
        return "(" + ", ".join("None" if d is None else str(d) for d in spec.shape) + ")"
    parts = []
    if spec.ndim is not None:
        parts.append(f"rank {spec.ndim}")
    elif spec.min_ndim is not None:
        parts.append(f"rank ≥ {spec.min_ndim}")
    axes = dict(spec.axes or {})
    if list(axes) == [-1]:
        parts.append(f"(…, {axes[-1]})")
    elif axes:
        parts.append("axes " + ", ".join(f"{k}={v}" for k, v in sorted(axes.items())))
    return " ".join(parts) or None


def call_argument_names(layer: Operation) -> list[str]:
    """Names of ``layer.call``'s positional parameters (``inputs``, ``x``…)."""
    import inspect

    try:
        parameters = inspect.signature(layer.call).parameters.values()
    except (TypeError, ValueError):
        return []
    return [
        p.name
        for p in parameters
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in ("training", "mask")
    ]


def required_call_arguments(layer: Operation) -> list[str]:
    """The :func:`call_argument_names` that have no default value (a call must pass them)."""
    import inspect

    try:
        parameters = inspect.signature(layer.call).parameters
    except (TypeError, ValueError):
        return []
    return [
        name for name in call_argument_names(layer) if parameters[name].default is inspect.Parameter.empty
    ]


def built_call_inputs(layer: Layer) -> dict[str, Any] | None:
    """Per ``call`` argument, the input shapes Keras recorded when the object was built.

    Each value is a shape (with the batch axis), or a dict / list of shapes for an argument
    that took a structure. Keras records the first argument only for a subclassed model
    (``build(input_shape)``); a ``build(image_shape, meta_shape)`` records each by name.
    """
    shapes = getattr(layer, "_build_shapes_dict", None)
    if not getattr(layer, "built", False) or not shapes:
        return None
    names = call_argument_names(layer)
    found: dict[str, Any] = {}
    for key, value in shapes.items():
        name = key[: -len("_shape")] if key.endswith("_shape") else key
        if name not in names and names and key == "input_shape":
            name = names[0]  # the default build(input_shape): the first argument's shape
        if value is not None:
            found[name] = value
    return found or None


_STAND_IN_SIZES = (7919, 7907, 7901, 7883, 7879, 7877)


def argument_shapes_from_sublayers(layer: Layer, known: dict[str, Any], missing: list[str]) -> dict[str, Any]:
    """Shapes of ``missing`` call arguments, read from the sublayers they were first fed to.

    Keras records only a subclassed model's first argument. The call is run symbolically
    with a stand-in for each missing argument; a built sublayer called directly on a
    stand-in was built for that argument's shape. Arguments that reach no sublayer
    directly (an op comes first) stay unknown.
    """
    if not missing:
        return {}
    try:
        placeholders = {
            name: tree.map_shape_structure(lambda s: keras.KerasTensor(tuple(s)), value)
            for name, value in known.items()
        }
        # Backends trace with their own placeholders, so a stand-in is known by its shape: a
        # feature size no real input has (element-wise ops on the way keep it).
        marks = {name: _STAND_IN_SIZES[i % len(_STAND_IN_SIZES)] for i, name in enumerate(missing)}
        stand_ins = {name: keras.KerasTensor((None, size)) for name, size in marks.items()}
    except Exception:
        return {}
    owner = {size: name for name, size in marks.items()}
    found: dict[str, Any] = {}

    class _Done(Exception):
        pass

    def handler(sub: Any, args: tuple, kwargs: dict, proceed: Callable[[], Any]) -> Any:
        if sub is layer:
            return proceed()
        first = args[0] if args else next(iter(kwargs.values()), None)
        shape = tuple(getattr(first, "shape", ()) or ())
        name = owner.get(shape[1]) if len(shape) == 2 and isinstance(shape[1], int) else None
        shapes = built_input_shapes(sub)
        if name is not None and shapes:
            found[name] = (None, *shapes[0][1:])
            if len(found) == len(missing):
                raise _Done
        return proceed()

    from keras.src.backend import compute_output_spec

    try:
        with recording_layer_calls(handler):
            compute_output_spec(layer.call, **placeholders, **stand_ins)
    except Exception:  # _Done, or the stand-in's made-up shape failed further on
        pass
    return found


def model_inputs(model: Operation) -> list[Any] | None:
    """The model's symbolic inputs; ``None`` for a subclassed model or a Sequential without an Input."""
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        return None
    return list(inputs) if inputs else None


def input_consumers(model: Model) -> tuple[list[list[Any]], list[list[Any]]]:
    """Per model input: the layers that take it directly, and every layer it reaches.

    Nested models and user-defined layers count with all their sublayers (what feeds an
    ``Embedding`` hidden in a custom embedding layer is a token input).
    """
    graph = graph_of(model)
    if graph is None:
        return [], []
    count = len(graph.inputs)
    direct: list[list[Any]] = [[] for _ in range(count)]
    reached: list[list[Any]] = [[] for _ in range(count)]
    sources = {id(ref): {i} for i, ref in enumerate(graph.inputs)}
    for call in graph.calls:
        found = (
            set().union(*(sources.get(id(ref), set()) for ref in call.input_refs))
            if call.input_refs
            else set()
        )
        inner = (
            [call.operation, *sublayers(call.operation)]
            if hasattr(call.operation, "_flatten_layers")
            else [call.operation]
        )
        for i in found:
            reached[i].extend(inner)
        for i, ref in enumerate(graph.inputs):
            if any(r is ref for r in call.input_refs):
                direct[i].extend(inner)
        for ref in call.output_refs:
            sources[id(ref)] = found
    return direct, reached


# --------------------------------------------------------------------------- op recording
#
# Multiplications done by ``keras.ops`` inside a user-defined layer's ``call`` (``ops.einsum`` in
# a mixture of experts, ``ops.matmul`` for QKᵀ in hand-written attention) have no layer of their
# own. While a recorder runs, the functions below are replaced, in every module a user reaches
# them through (``keras.ops``, ``keras.ops.numpy``/``nn``, ``keras.src.ops``…; they are the
# very same function objects there), by a wrapper that hands each real call to a per-thread
# handler, then restored. Code that imported a function by name before the trace
# (``from keras.ops import einsum``) keeps the original and is not seen; nor are the ``@``
# operator and backend calls (``jnp.einsum``). Checked against Keras 3.13 – 3.15.

CONTRACTION_OPS = (
    "matmul",
    "einsum",
    "dot",
    "tensordot",
    "inner",
    "vdot",
    "conv",
    "depthwise_conv",
    "separable_conv",
    "conv_transpose",
    "dot_product_attention",
)
"""``keras.ops`` functions that multiply and accumulate (their MACs are counted)."""
LOOKUP_OPS = (
    "take",
    "take_along_axis",
    "slice",
    "broadcast_to",
    "tile",
    "repeat",
    "concatenate",
    "add",
    "subtract",
    "multiply",
    "divide",
)
"""MAC-free ops a weight may be read by (a position table sliced, a scale multiplied)."""
ALIAS_OPS = ("convert_to_tensor", "cast", "transpose", "reshape", "expand_dims")
"""Ops whose result is still the weight they were given (for the ops above)."""
_OP_MODULES = (
    "keras.ops",
    "keras.ops.numpy",
    "keras.ops.nn",
    "keras.ops.core",
    "keras.src.ops",
    "keras.src.ops.numpy",
    "keras.src.ops.nn",
    "keras.src.ops.core",
)
_OpHandler = Callable[[str, dict, Any], None]
_op_lock = threading.Lock()
_op_state: dict[str, Any] = {"count": 0, "saved": []}


def _op_wrapper(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    import functools
    import inspect

    try:
        signature: inspect.Signature | None = inspect.signature(original)
    except (TypeError, ValueError):
        signature = None

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        handler = getattr(_local, "op_handler", None)
        if handler is None or getattr(_local, "in_op", False):
            return original(*args, **kwargs)
        _local.in_op = True  # ops an op calls itself are its own business
        try:
            result = original(*args, **kwargs)
        finally:
            _local.in_op = False
        try:
            bound = signature.bind(*args, **kwargs).arguments if signature is not None else {}
        except TypeError:
            bound = {}
        handler(name, dict(bound), result)
        return result

    wrapper._shapetrace_original = original  # type: ignore[attr-defined]
    return wrapper


def _install_op_wrappers() -> list[tuple[Any, str, Any]]:
    saved: list[tuple[Any, str, Any]] = []
    wrappers: dict[int, Any] = {}
    for module_name in _OP_MODULES:
        module = sys.modules.get(module_name)
        if module is None:
            continue
        for name in (*CONTRACTION_OPS, *LOOKUP_OPS, *ALIAS_OPS):
            original = getattr(module, name, None)
            if original is None or hasattr(original, "_shapetrace_original"):
                continue
            wrapper = wrappers.setdefault(id(original), _op_wrapper(name, original))
            saved.append((module, name, original))
            setattr(module, name, wrapper)
    return saved


@contextmanager
def recording_op_calls(handler: _OpHandler) -> Iterator[None]:
    """Hand every ``keras.ops`` contraction (and weight lookup) this thread makes to ``handler``.

    ``handler(name, arguments, result)`` gets the op's name (``"einsum"``), its arguments bound
    by parameter name, and its real result, after the op ran.
    """
    with _op_lock:
        if _op_state["count"] == 0:
            _op_state["saved"] = _install_op_wrappers()
        _op_state["count"] += 1
    previous = getattr(_local, "op_handler", None)
    _local.op_handler = handler
    try:
        yield
    finally:
        _local.op_handler = previous
        with _op_lock:
            _op_state["count"] -= 1
            if _op_state["count"] == 0:
                for module, name, original in _op_state["saved"]:
                    setattr(module, name, original)
                _op_state["saved"] = []


def is_variable(value: Any) -> bool:
    return isinstance(value, keras.Variable)


def shape_of(value: Any) -> tuple[int, ...] | None:
    """A real tensor's (or variable's) shape as integers; ``None`` for anything else."""
    shape = getattr(value, "shape", None)
    if shape is None or isinstance(value, keras.KerasTensor):
        return None
    try:
        return tuple(int(d) for d in shape)
    except (TypeError, ValueError):
        return None
