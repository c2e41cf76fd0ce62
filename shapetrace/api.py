"""``shapetrace.trace``: resolve a model, make the probe, walk it, return a ``Trace``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from shapetrace.applications import (
    build_application,
    check_channels,
    check_size,
    parse_size,
    resolve_application,
)
from shapetrace.errors import UsageError
from shapetrace.options import Engine, Pooling
from shapetrace.records import Probe, Trace

__all__ = ["trace", "make_probes", "trace_model"]

PROBE_SEED = 0


def trace(
    model: Any,
    *,
    channels: int | None = None,
    size: tuple[int, int] | str | None = None,
    batch: int = 1,
    native: bool = False,
    top: bool = False,
    weights: str | Path | None = None,
    pooling: Pooling | str | None = None,
    engine: Engine | str = Engine.stream,
) -> Trace:
    """Trace a real probe tensor through a model.

    Args:
        model: a ``keras.applications`` name (``"efficientnetb5"``) or a built ``keras.Model``.
        channels: probe channels; default 3 for an application, the model's own for a model.
        size: ``(height, width)`` or ``"HxW"``; default the model's (default) input size.
        batch: probe batch size.
        native: build the application declared for ``channels`` instead of 3.
        top: keep the application's classifier.
        weights: ``None``, ``"imagenet"`` or a local weights file.
        pooling: ``"avg"`` or ``"max"``.
        engine: ``"stream"`` (default) or ``"submodels"``.

    Returns:
        A frozen :class:`~shapetrace.records.Trace`.

    Raises:
        UsageError: bad options or an unknown model (exit code 2 in the CLI).
    """
    if isinstance(size, str):
        size = parse_size(size)
    if channels is not None:
        check_channels(channels)
    if not isinstance(batch, int) or batch < 1 or batch > 4096:
        raise UsageError(f"Invalid batch {batch!r}: expected a whole number from 1 to 4096.")
    request: dict[str, Any] = {
        "channels": channels,
        "size": None if size is None else list(size),
        "batch": batch,
        "native": native,
        "top": top,
        "weights": None if weights is None else str(weights),
        "pooling": None if pooling is None else Pooling(pooling).value,
    }
    if isinstance(model, str):
        app = resolve_application(model)
        channels = 3 if channels is None else channels
        if size is not None:
            check_size(app, size)
        keras_model = build_application(
            app, size=size, channels=channels, native=native, top=top,
            weights=weights, pooling=pooling,
        )
        request = {"model": app.key, **request}
    else:
        keras_model = model
        request = {"model": None, **request}
    return trace_model(keras_model, channels=channels, size=size, batch=batch, engine=engine, request=request)


def make_probes(model, *, channels: int | None, size: tuple[int, int] | None, batch: int):
    """One probe per model input: its declared shape with the batch, size and channels asked for."""
    declared = [tuple(t.shape) for t in model.inputs]
    names = [getattr(t, "name", f"input_{i}") for i, t in enumerate(model.inputs)]
    rng = np.random.default_rng(PROBE_SEED)
    probes, arrays = [], []
    for name, shape in zip(names, declared):
        dims = list(shape[1:])
        if size is not None and len(dims) == 3:
            dims[0], dims[1] = size
        if channels is not None and dims:
            dims[-1] = channels
        if any(d is None for d in dims):
            raise UsageError(
                f"Input {name!r} declares {shape} with unknown dimensions: pass --size HxW "
                "(and --channels N) to say what to probe it with."
            )
        full = (batch, *dims)
        probes.append(Probe(name=name, shape=full, declared=shape))
        # Image-like values: the shapes do not depend on them, but NaN-free data keeps
        # every layer on its ordinary code path.
        arrays.append(rng.uniform(0.0, 255.0, size=full).astype("float32"))
    return probes, arrays


def trace_model(
    model,
    *,
    channels: int | None = None,
    size: tuple[int, int] | None = None,
    batch: int = 1,
    engine: Engine | str = Engine.stream,
    request: dict[str, Any] | None = None,
) -> Trace:
    """Trace an already-built ``keras.Model`` (see :func:`trace` for the arguments)."""
    from shapetrace import _keras_graph as kg

    engine = Engine(engine)
    if not model.built or not getattr(model, "inputs", None):
        raise UsageError(
            f"Model {model.name!r} has no known input shape yet: build it (call it once or give it "
            "an Input) before tracing."
        )
    probes, arrays = make_probes(model, channels=channels, size=size, batch=batch)
    if engine is Engine.stream:
        from shapetrace.engine import walk_model
    else:
        from shapetrace.submodels import walk_model
    result = walk_model(model, probes, arrays)
    return Trace(
        model=model.name,
        probes=tuple(probes),
        boundary=result.boundary,
        layers=result.rows,
        broken=result.broken,
        total_params=int(model.count_params()),
        seconds=result.seconds,
        engine=engine.value,
        peak_live_bytes=result.peak_live_bytes,
        request=dict(request or {}),
        versions=kg.versions(),
    )
