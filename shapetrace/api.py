"""``shapetrace.trace``: resolve a model, make the probe, walk it, return a ``Trace``."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from shapetrace.errors import UsageError
from shapetrace.models.catalog import parse_size, validate_channels
from shapetrace.models.loading import parse_input_shapes
from shapetrace.models.spec import model_from_spec
from shapetrace.options import Engine, TraceOptions
from shapetrace.records import Break, LayerTrace, Request, Trace

if TYPE_CHECKING:
    from keras import Model

__all__ = ["trace", "trace_model"]


def trace(
    model: Any,
    *,
    channels: int | None = None,
    options: TraceOptions | None = None,
    on_layer: Callable[[int], None] | None = None,
    on_walk_start: Callable[[int | None], None] | None = None,
    **keywords: Any,
) -> Trace:
    """Trace a real probe tensor through a model.

    Args:
        model: a ``keras.applications`` name (``"efficientnetb5"``), a saved model file
            (``"model.keras"``, ``"legacy.h5"``), a factory (``"pkg.module:function"`` or
            ``"path/to/file.py:function"``), a callable returning a model, or a built ``keras.Model``.
        channels: probe channels; default 3 for an application, the model's own for a model.
        options: how the model is made and probed (:class:`~shapetrace.options.TraceOptions`:
            size, batch, weights, pooling, native, top, engine, factory_args, inputs,
            unsafe_load, imports); default: all defaults.
        on_layer: progress: called after each recorded layer call with the number of rows so far.
        on_walk_start: progress: called once the model is built, before the walk, with the
            number of layer calls the walk is expected to record (``None``: unknown).
        **keywords: fields of :class:`~shapetrace.options.TraceOptions`, applied over
            ``options`` (``trace("resnet50", channels=1, size=(64, 64))``):

            - ``size``: ``(height, width)`` or ``"HxW"``; default the model's (default) input size.
            - ``batch``: probe batch size.
            - ``native``: build the application declared for ``channels`` instead of 3.
            - ``top``: keep the application's classifier.
            - ``weights``: ``None``, ``"imagenet"`` or a local weights file.
            - ``pooling``: ``"avg"`` or ``"max"``.
            - ``engine``: ``"stream"`` (default) or ``"submodels"``.
            - ``factory_args``: keyword arguments for a factory (``{"channels": 1}``).
            - ``inputs``: probe shapes without the batch axis, any rank: one shape for a
              single-input model (``"32x32x3"``, ``(120, 7)``), or by input name
              (``{"image": (64, 64, 1), "meta": "10"}``). A model never built takes its probe from here.
            - ``unsafe_load``: let a saved file run the code it carries (Lambda layers, custom
              classes); refused by default.
            - ``imports``: the user's own code to import first (``"layers.py"``, ``"pkg.layers"``):
              its classes and functions are the custom objects of a saved model's load.

    Returns:
        A frozen :class:`~shapetrace.records.Trace`.

    Raises:
        UsageError: bad options or an unknown model (exit code 2 in the CLI).
        TypeError: a keyword that is not a field of ``TraceOptions``.
    """
    opts = TraceOptions.merged(options, keywords)
    if isinstance(model, os.PathLike):  # a pathlib.Path to a saved model or a factory file
        model = os.fspath(model)
    size = _probe_size(opts, channels)
    input_shapes = parse_input_shapes(opts.inputs)  # checked, like all options, before TensorFlow loads
    built = model_from_spec(
        model,
        channels=channels,
        size=size,
        weights=opts.weights,
        native=opts.native,
        top=opts.top,
        pooling=opts.pooling,
        factory_args=opts.factory_args,
        unsafe_load=opts.unsafe_load,
        imports=opts.imports,
        batch=opts.batch,
    )
    request = Request(
        model=built.label,
        channels=channels,
        size=size,
        batch=opts.batch,
        native=opts.native,
        top=opts.top,
        weights=None if opts.weights is None else str(opts.weights),
        pooling=None if opts.pooling is None else opts.pooling.value,
        factory_args=built.factory_args or None,
        imports=built.imports or None,
        inputs=input_shapes or None,
    )
    return trace_model(
        built.model,
        channels=built.channels,
        size=size,
        batch=opts.batch,
        engine=opts.engine,
        request=request,
        inputs=input_shapes,
        on_layer=on_layer,
        on_walk_start=on_walk_start,
    )


def _probe_size(opts: TraceOptions, channels: int | None) -> tuple[int, int] | None:
    """The probe's ``(height, width)`` (``None``: the model's own), once channels and batch are sound."""
    size = opts.size
    if isinstance(size, str):
        size = parse_size(size)
    elif size is not None:
        size = _size_pair(size)
    if channels is not None:
        validate_channels(channels)
    batch = opts.batch
    if not isinstance(batch, int) or batch < 1 or batch > 4096:
        raise UsageError(f"Invalid batch={batch!r}: expected a whole number from 1 to 4096.", param="batch")
    return size


def _size_pair(size: Any) -> tuple[int, int]:
    """``size`` given as a sequence: two whole numbers of at least 1, else one line."""
    try:
        pair = tuple(size)
    except TypeError:
        pair = ()
    if len(pair) != 2 or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in pair):
        raise UsageError(
            f"Invalid size={size!r}: expected (height, width), two whole numbers of at least 1, "
            "like (224, 224), or a string like '224x224'.",
            param="size",
        )
    return (pair[0], pair[1])


def trace_model(
    model: Model,
    *,
    channels: int | None = None,
    size: tuple[int, int] | None = None,
    batch: int = 1,
    engine: Engine | str = Engine.stream,
    request: Request | Mapping[str, Any] | None = None,
    inputs: Mapping[str, tuple[int, ...]] | None = None,
    on_layer: Callable[[int], None] | None = None,
    on_walk_start: Callable[[int | None], None] | None = None,
) -> Trace:
    """Trace an already-built ``keras.Model`` (see :func:`trace` for the arguments)."""
    from shapetrace.tracing import _keras_graph as kg
    from shapetrace.tracing.probes import make_probes

    engine, request = Engine(engine), Request.of(request)
    # A subclassed model never called is built by the probe itself (``inputs`` says its shape).
    probes, arrays = make_probes(model, channels=channels, size=size, batch=batch, inputs=inputs)
    if engine is Engine.stream:
        from shapetrace.tracing.walk import walk_stream as walk
    else:
        from shapetrace.tracing.submodels import walk_submodels as walk
    if on_walk_start is not None:
        on_walk_start(_expected_calls(model))
    result = walk(model, probes, arrays, on_layer=on_layer)
    layers, broken = result.rows, result.broken
    if len(probes) > 1 and kg.model_inputs(model):
        layers, broken = _with_sources(model, [p.name for p in probes], layers, broken)
    return Trace(
        model=model.name,
        probes=tuple(probes),
        boundary=result.boundary,
        layers=layers,
        broken=broken,
        total_params=int(model.count_params()) if model.built else 0,
        seconds=result.seconds,
        engine=engine.value,
        peak_live_bytes=result.peak_live_bytes,
        request=request,
        versions=kg.versions(),
    )


def _expected_calls(model: Any) -> int | None:
    """How many rows a full walk records (for progress only; ``None`` when unknown)."""
    from shapetrace.tracing import _keras_graph as kg

    def calls(graph: Any) -> int:
        return sum(
            calls(inner) if kg.is_model(c.operation) and (inner := kg.graph_of(c.operation)) else 1
            for c in graph.calls
        )

    try:
        graph = kg.graph_of(model)
        return None if graph is None else len(graph.input_layers) + calls(graph)
    except Exception:  # a progress figure must never break a trace
        return None


def _with_sources(
    model: Any, names: list[str], layers: Sequence[LayerTrace], broken: Break | None
) -> tuple[tuple[LayerTrace, ...], Break | None]:
    """Name, on every row and on the break, the model inputs (probes) that reach that call."""
    from dataclasses import replace

    from shapetrace.tracing import _keras_graph as kg

    pending: dict[str, list[tuple[str, ...]]] = {}
    for path, sources in kg.input_lineage(model, names):
        pending.setdefault(path, []).append(sources)
    rows = []
    containers: list[LayerTrace] = []  # opened blocks: the rows inside inherit their sources
    for row in layers:
        queue = pending.get(row.path)
        if queue:
            row = replace(row, sources=queue.pop(0))
        else:
            while containers and not row.path.startswith(containers[-1].path + "/"):
                containers.pop()
            if containers:
                row = replace(row, sources=containers[-1].sources)
        if row.container:
            containers.append(row)
        rows.append(row)
    if broken is not None and broken.index < len(rows):
        broken = replace(broken, sources=rows[broken.index].sources)
    return tuple(rows), broken
