"""Running the trace a baseline describes again, from the baseline's own folder.

A baseline's ``request`` says how its trace was made: the model spec, the probe options
and the code to import, with paths relative to the baseline's folder. Only code inside the
project runs (:func:`shapetrace.baselines.project.allowed_code`, decided before anything is imported).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from shapetrace.baselines.baseline import local_spec
from shapetrace.baselines.project import allowed_code
from shapetrace.errors import UsageError
from shapetrace.models.paths import local_path
from shapetrace.models.weights import weights_choice
from shapetrace.records import Request, Trace

__all__ = ["TRACE_OPTIONS", "rerun"]

TRACE_OPTIONS = tuple(
    f.name for f in fields(Request) if f.name not in ("model", "imports", "engine", "omitted")
)
"""Options of :func:`shapetrace.api.trace` that a baseline's ``request`` may carry."""


def rerun(
    baseline: Trace,
    path: str | Path,
    *,
    unsafe_load: bool = False,
    imports: Sequence[str] | None = None,
    on_layer: Callable[[int], None] | None = None,
    on_walk_start: Callable[[int | None], None] | None = None,
) -> Trace:
    """Run the trace a baseline describes again (paths resolved against the baseline's folder).

    Args:
        baseline: the trace the baseline ``path`` recorded (:func:`shapetrace.baselines.baseline.load_baseline`).
        path: the baseline file, whose folder its relative paths start from.
        unsafe_load: allow a saved model file to run the code it carries.
        imports: extra ``--import`` items from the command line, the user's own choice.
        on_layer, on_walk_start: progress callbacks, as for :func:`shapetrace.trace`.

    Returns:
        The new trace, its ``request`` naming the model as the baseline does.

    Raises:
        UsageError: the baseline names no model or code from outside the project, or the
            model cannot be traced.
    """
    from shapetrace.api import trace as run_trace  # TensorFlow loads here, not on import

    path = Path(path)
    request = baseline.request
    model = request.model
    if model is None:
        raise UsageError(
            f"Baseline {str(path)!r} was written from a model object (assert_shapes with a "
            "keras.Model), so it names no model to re-run: check it from its test, or write it "
            "from a name, file or factory."
        )
    base = path.resolve().parent
    code = allowed_code(request, path, unsafe_load=unsafe_load)
    options: dict[str, Any] = {key: getattr(request, key) for key in TRACE_OPTIONS if key in request}
    try:
        # A weights file is relative to the baseline's folder (a blank one is refused, named by the file).
        if request.weights is not None and isinstance(weights_choice(request.weights), Path):
            options["weights"] = local_path(base / request.weights)
        result = run_trace(
            code.factory if code.factory is not None else local_spec(model, base),
            engine=request.get("engine", baseline.engine),
            unsafe_load=unsafe_load,
            imports=[*code.imports, *(imports or ())],
            on_layer=on_layer,
            on_walk_start=on_walk_start,
            **options,
        )
    except UsageError as error:
        raise UsageError(f"{path}: {error}", param=error.params) from None
    # Recorded as the baseline named it (a factory ran as the callable resolved above).
    request_now = replace(
        result.request,
        model=local_spec(model, base) if code.factory is not None else result.request.model,
        imports=(*code.imports, *(imports or ())) if code.imports else result.request.imports,
    )
    return replace(result, request=request_now)
