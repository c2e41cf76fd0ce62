"""The second, independent engine: Keras's documented way to see intermediate outputs.

One multi-output sub-model over every layer output of a graph (``keras.Model(inputs,
[every output])``), called once on the probe; nested models are expanded by running
the same construction on each of them with the input it received. It keeps every
activation alive and needs the probe to pass the whole model, which is why the
streaming engine is the default; it exists so the two can be checked against each
other layer by layer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shapetrace.errors import ProbeBroken
from shapetrace.messages import one_line
from shapetrace.records import Boundary, Probe
from shapetrace.tracing import _keras_graph as kg
from shapetrace.tracing.engine import WalkResult
from shapetrace.tracing.recorder import CallRecorder, is_opened
from shapetrace.tracing.rows import RowMaker, tensor_shape

if TYPE_CHECKING:
    from keras import Model

__all__ = ["walk_submodels"]


def _expand(graph: kg.Graph, tensors: list, maker: RowMaker, prefix: str, depth: int) -> None:
    refs = [ref for call in graph.calls for ref in call.output_refs]
    extractor = kg.keras.Model(inputs=list(graph.inputs), outputs=refs)
    feed = tensors[0] if len(tensors) == 1 else list(tensors)
    values = dict(zip((id(r) for r in refs), kg.flatten(extractor(feed, training=False))))
    values.update({id(ref): t for ref, t in zip(graph.inputs, tensors)})
    for call in graph.calls:
        args, kwargs = call.fill(values)
        operation = call.operation
        if is_opened(operation):
            # A user-defined layer has no graph to extract from: its calls are recorded,
            # re-running it on the input the sub-model gave it.
            CallRecorder(maker).run(
                operation,
                args,
                kwargs,
                path=prefix + operation.name,
                depth=depth,
                declared_output=call.declared_output,
                declared_inputs=call.declared_inputs,
            )
            continue
        inner = kg.graph_of(operation) if kg.is_model(operation) else None
        if inner is not None:
            _, _, adjusted = kg.admit_inputs(operation, kg.flatten_tensors(args))
            _expand(inner, adjusted, maker, prefix + operation.name + "/", depth + 1)
            continue
        outputs = [values[id(ref)] for ref in call.output_refs]
        maker.layer_row(
            prefix + operation.name,
            depth,
            operation,
            call,
            args,
            kwargs,
            outputs[0] if len(outputs) == 1 else outputs,
        )


def walk_submodels(
    model: Model,
    probes: list[Probe],
    arrays: list[Any],
    on_layer: Callable[[int], None] | None = None,
) -> WalkResult:
    """Trace with sub-models; raises :class:`ProbeBroken` when the probe cannot pass the model.

    ``on_layer`` (progress) is called once, with all the rows: one call runs every layer.
    """
    graph = kg.graph_of(model)
    if graph is None:
        raise ProbeBroken(
            f"The submodels engine needs a functional or built Sequential model; {model.name!r} "
            "is subclassed: use engine=stream.",
            param="engine",
        )
    tensors = [kg.convert(a, a.dtype) for a in arrays]
    start = time.perf_counter()
    accepted, reason, adjusted = kg.admit_inputs(model, tensors)
    if not accepted:
        raise ProbeBroken(
            f"The submodels engine runs the model as a whole and Keras rejects the probe at its "
            f"input ({reason}); use engine=stream to see where the graph itself breaks.",
            param="engine",
        )
    maker = RowMaker()
    for layer, probe, tensor in zip(graph.input_layers, probes, adjusted):
        maker.input_row(model.name + "/" + layer.name, layer, probe.declared, tensor_shape(tensor))
    try:
        _expand(graph, adjusted, maker, model.name + "/", 0)
    except Exception as error:
        raise ProbeBroken(
            f"The probe breaks inside {model.name} ({one_line(error)}); the submodels engine "
            "cannot say at which layer: use engine=stream.",
            param="engine",
        ) from error
    if on_layer is not None:
        on_layer(len(maker.rows))
    return WalkResult(
        boundary=Boundary(accepted=True, reason=reason),
        rows=tuple(r for r in maker.rows if r is not None),  # every slot is filled by now
        broken=None,
        seconds=time.perf_counter() - start,
        # Every activation is alive at once here; the footer reports the stream engine's figure.
        peak_live_bytes=0,
    )
