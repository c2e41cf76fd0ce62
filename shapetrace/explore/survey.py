"""Trace every ``keras.applications`` model (or the matching ones) with one probe, or a grid of them.

Each model is traced exactly as ``shapetrace.trace(name, ...)`` would trace it
alone: :func:`~shapetrace.models.applications.build_application` starts layer naming
afresh, and the survey drops its references to a model before the next one is
built, so memory does not grow with the number of models. A grid (several channel
counts and sizes) builds each model once per size and traces it with every channel
count; ``jobs`` spreads whole models over spawned worker processes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

from shapetrace.display import Displayable
from shapetrace.errors import UsageError
from shapetrace.models.catalog import APPLICATIONS, Application, parse_size, validate_channels
from shapetrace.records import Request, Trace
from shapetrace.tracing.costs import totals_of

__all__ = [
    "SurveyRow",
    "Survey",
    "SurveyFormat",
    "survey",
    "validate_survey_options",
    "select_applications",
    "survey_row",
    "SIZE_WORDS",
]

SCHEMA = "shapetrace.survey/1"
SIZE_WORDS = ("default", "min")
"""``--size default``: each model's published size; ``--size min``: the smallest Keras accepts."""


class SurveyFormat(str, Enum):
    """How ``shapetrace survey`` prints its result."""

    table = "table"
    json = "json"
    csv = "csv"


@dataclass(frozen=True)
class SurveyRow:
    """One model's answer to the probe."""

    model: str
    """The constructor's name (``EfficientNetB0``)."""
    key: str
    size: tuple[int, int]
    channels: int
    boundary_accepted: bool
    boundary_reason: str | None
    verdict: str
    """``ok`` (the probe passes) or ``broken``."""
    layers: int
    """Layer calls the probe went through (the break row included)."""
    first_change_layer: str | None
    """Name of the first layer that changed the channel count."""
    first_change_in: int | None
    first_change_out: int | None
    first_change_mechanism: str | None
    first_change_why: str | None
    break_layer: str | None
    """Path of the layer where the probe broke."""
    break_type: str | None
    break_expected: str | None
    """What the graph declared the breaking layer's input to be."""
    break_received: str | None
    """What the probe brought there."""
    break_reason: str | None
    """Keras's own error, in one line."""
    params: int
    macs: int
    """MACs of the layers that ran (the whole model when ``macs_complete``)."""
    macs_complete: bool
    trace_seconds: float
    build_seconds: float

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["size"] = list(self.size)
        return data


@dataclass(frozen=True)
class Survey(Displayable):
    """The answers of every surveyed model to one probe."""

    channels: int
    size: str
    """``default``, ``min`` or ``HxW``."""
    native: bool
    rows: tuple[SurveyRow, ...]
    seconds: float
    versions: dict[str, str] = field(default_factory=dict)
    """Keras, its backend and the backend's version (as in a trace's ``versions``)."""
    channel_counts: tuple[int, ...] = ()
    """Every probe's channels, for a grid (``--channels 1,3,4``); ``channels`` is the first."""
    sizes: tuple[str, ...] = ()
    """Every size, for a grid (``--size 64x64,128x128``); ``size`` is the first."""

    @property
    def grid(self) -> bool:
        """More than one probe per model: one row per model × probe."""
        return len(self.channel_counts) > 1 or len(self.sizes) > 1

    @property
    def passed(self) -> tuple[SurveyRow, ...]:
        return tuple(r for r in self.rows if r.verdict == "ok")

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "channels": self.channels,
            "size": self.size,
            "native": self.native,
            "models": len({r.key for r in self.rows}),
            "passed": len(self.passed),
            "seconds": round(self.seconds, 3),
            "versions": dict(self.versions),
            "grid": {
                "channels": list(self.channel_counts or (self.channels,)),
                "sizes": list(self.sizes or (self.size,)),
            },
            "rows": [r.to_dict() for r in self.rows],
        }


def select_applications(pattern: str | None) -> tuple[Application, ...]:
    """The applications whose name matches ``pattern`` (searched, case-insensitive).

    Raises:
        UsageError: an empty or invalid pattern, or one that matches nothing.
    """
    apps = tuple(APPLICATIONS.values())
    if pattern is None:
        return apps
    if not pattern.strip():
        raise UsageError(
            "Empty `models`: expected a regular expression like 'efficientnet|mobilenet'.", param="models"
        )
    try:
        regex = re.compile(pattern, re.IGNORECASE)
    except re.error as error:
        raise UsageError(
            f"Invalid `models` regular expression {pattern!r}: {error}.", param="models"
        ) from None
    chosen = tuple(a for a in apps if regex.search(a.name) or regex.search(a.key))
    if not chosen:
        raise UsageError(
            f"models={pattern!r} matches none of the 40 keras.applications names; "
            "see `shapetrace list` for them.",
            param="models",
        )
    return chosen


def resolve_size(app: Application, size: str | tuple[int, int] | None) -> tuple[int, int]:
    if size is None or size == "default":
        return app.default_size, app.default_size
    if size == "min":
        return app.min_size, app.min_size
    return parse_size(size) if isinstance(size, str) else tuple(size)  # type: ignore[return-value]


def _validate_sizes(apps: tuple[Application, ...], size: str | tuple[int, int] | None) -> None:
    if size is None or size in SIZE_WORDS:
        return
    h, w = parse_size(size) if isinstance(size, str) else size
    small = [a for a in apps if min(h, w) < a.min_size]
    if small:
        names = ", ".join(f"{a.name} ({a.min_size})" for a in small[:4])
        more = f" and {len(small) - 4} more" if len(small) > 4 else ""
        raise UsageError(
            f"Size {h}x{w} is below the minimum of {names}{more}: use size="
            f"{max(a.min_size for a in small)} or larger, size=min, or narrow `models`.",
            param=("size", "models"),
        )


def survey_row(app: Application, trace: Trace, size: tuple[int, int], build_seconds: float) -> SurveyRow:
    """Condense one trace into its survey answer."""
    first = next((r for r in trace.changes if r.index > 0), None)
    broken = trace.broken
    totals = totals_of(trace)
    return SurveyRow(
        model=app.name,
        key=app.key,
        size=size,
        channels=int(trace.probe.channels or 0),
        boundary_accepted=trace.boundary.accepted,
        boundary_reason=trace.boundary.reason,
        verdict=trace.verdict,
        layers=len(trace.layers),
        first_change_layer=None if first is None else first.name,
        first_change_in=None if first is None else first.channels_in,
        first_change_out=None if first is None else first.channels_out,
        first_change_mechanism=None if first is None else first.mechanism,
        first_change_why=None if first is None else first.why,
        break_layer=None if broken is None else broken.layer,
        break_type=None if broken is None else broken.type,
        break_expected=None if broken is None else broken.expected,
        break_received=None if broken is None else broken.received,
        break_reason=None if broken is None else broken.message,
        params=trace.total_params,
        macs=totals.macs,
        macs_complete=totals.complete,
        trace_seconds=trace.seconds,
        build_seconds=build_seconds,
    )


def parse_channel_grid(text: str | int | tuple[int, ...] | list[int]) -> tuple[int, ...]:
    """``"1,3,4"`` → ``(1, 3, 4)`` (each validated; duplicates dropped, order kept).

    Raises:
        UsageError: an item that is not a channel count.
    """
    items: list[Any] = list(text) if isinstance(text, (tuple, list)) else str(text).split(",")
    counts: list[int] = []
    for item in items:
        try:
            value = int(str(item).strip())
        except ValueError:
            raise UsageError(
                f"channels={str(item).strip()!r} is not a channel count: expected whole numbers like channels=1,3,4.",
                param="channels",
            ) from None
        validate_channels(value)
        if value not in counts:
            counts.append(value)
    return tuple(counts)


def parse_size_grid(text: str | tuple[int, int] | None) -> tuple[str | tuple[int, int] | None, ...]:
    """``"64x64,128x128"`` → ``("64x64", "128x128")``; one size (or ``None``) as a 1-tuple."""
    if text is None or not isinstance(text, str):
        return (text,)
    items: list[str] = []
    for item in (part.strip() for part in text.split(",")):
        if item not in items:
            items.append(item)
    for item in items:
        if item not in SIZE_WORDS:
            parse_size(item)  # raises for a bad one
    return tuple(items)


def _size_label(size: str | tuple[int, int] | None) -> str:
    if isinstance(size, str) and size in SIZE_WORDS:
        return size
    if size is None:
        return "default"
    return "x".join(map(str, parse_size(size) if isinstance(size, str) else size))


def validate_survey_options(
    *, channels: int | str | tuple[int, ...], size: str | tuple[int, int] | None, models: str | None
) -> tuple[Application, ...]:
    """Validate the survey's options without building anything; returns the chosen applications.

    Raises:
        UsageError: bad channels, size or pattern (exit code 2 in the CLI).
    """
    for count in parse_channel_grid(channels):
        validate_channels(count)
    apps = select_applications(models)
    for one in parse_size_grid(size):
        _validate_sizes(apps, one)
    return apps


@dataclass(frozen=True)
class Progress:
    """Sent before each model is built (``done`` models finished so far)."""

    model: str
    done: int
    total: int


def survey(
    *,
    channels: int | str | tuple[int, ...] = 3,
    size: str | tuple[int, int] | None = None,
    models: str | None = None,
    batch: int = 1,
    native: bool = False,
    jobs: int = 1,
    imports: list[str] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> Survey:
    """Trace each matching application with the same probe(s), each as if it were alone.

    Args:
        channels: probe channels, or several (``(1, 3, 4)`` or ``"1,3,4"``): a grid.
        size: ``"HxW"``, ``(h, w)``, ``"default"`` (each model's own, the default), ``"min"``,
            or several sizes ``"64x64,128x128"``: a grid.
        models: a regular expression selecting applications by name (default: all 40).
        batch: probe batch size.
        native: build each model for the probe's channels instead of 3 (then once per
            channel count; otherwise each model is built once per size and traced with
            every channel count).
        jobs: worker processes (``spawn``ed, each surveying whole models); 1 surveys here.
        imports: the user's ``--import`` code, imported in each worker (already imported
            here by the caller).
        on_progress: called before each model and once at the end (for a progress bar).

    Returns:
        A frozen :class:`Survey`: one row per model × size × channel count, in ``shapetrace
        list`` order, then by size and channels as given.
    """
    apps = validate_survey_options(channels=channels, size=size, models=models)
    counts = parse_channel_grid(channels)
    sizes = parse_size_grid(size)
    from shapetrace.tracing import _keras_graph as kg  # TensorFlow loads only once the options are sound

    rows: list[SurveyRow] = []
    start = time.perf_counter()
    if jobs > 1 and len(apps) > 1:
        rows = _survey_in_workers(apps, sizes, counts, batch, native, jobs, imports, on_progress)
    else:
        for done, app in enumerate(apps):
            if on_progress is not None:
                on_progress(Progress(model=app.name, done=done, total=len(apps)))
            rows += survey_model(app, sizes, counts, batch=batch, native=native)
        kg.reset_naming()  # the survey's builds leave no mark on names auto-generated after it
    if on_progress is not None:
        on_progress(Progress(model="", done=len(apps), total=len(apps)))
    labels = tuple(_size_label(one) for one in sizes)
    return Survey(
        channels=counts[0],
        size=labels[0],
        native=native,
        rows=tuple(rows),
        seconds=time.perf_counter() - start,
        versions=kg.versions(),
        channel_counts=counts,
        sizes=labels,
    )


def survey_model(
    app: Application,
    sizes: tuple[str | tuple[int, int] | None, ...],
    counts: tuple[int, ...],
    *,
    batch: int = 1,
    native: bool = False,
) -> list[SurveyRow]:
    """One model's rows: built once per size (once per size and channel count with
    ``native``), traced with each channel count, each exactly as ``shapetrace.trace`` alone."""
    from shapetrace.api import trace_model
    from shapetrace.models.applications import build_application

    rows = []
    for one in sizes:
        app_size = resolve_size(app, one)
        model = None
        for channels in counts:
            if model is None or native:
                del model  # ours goes before the next build, so the old model can be freed
                built = time.perf_counter()
                model = build_application(app, size=app_size, channels=channels, native=native)
                build_seconds = time.perf_counter() - built
            request = Request(model=app.key, channels=channels, size=app_size, batch=batch, native=native)
            result = trace_model(model, channels=channels, size=app_size, batch=batch, request=request)
            rows.append(survey_row(app, result, app_size, build_seconds))
            build_seconds = 0.0  # the build counts once, with the first probe
        # Drop our reference so this model can be collected before the next one is built:
        # memory stays that of one model, not of all of them.
        del model
    return rows


def _worker_start(imports: list[str] | None) -> None:
    """A survey worker: stdout belongs to the parent's document; the user's code imported."""
    import os
    import sys

    os.dup2(2, 1)
    sys.stdout = sys.stderr
    if imports:
        from shapetrace.models.loading import import_user_code

        import_user_code(imports)


def _worker_survey(
    key: str,
    sizes: tuple[str | tuple[int, int] | None, ...],
    counts: tuple[int, ...],
    batch: int,
    native: bool,
) -> list[SurveyRow]:
    return survey_model(APPLICATIONS[key], sizes, counts, batch=batch, native=native)


def _survey_in_workers(
    apps: tuple[Application, ...],
    sizes: tuple[str | tuple[int, int] | None, ...],
    counts: tuple[int, ...],
    batch: int,
    native: bool,
    jobs: int,
    imports: list[str] | None,
    on_progress: Callable[[Progress], None] | None,
) -> list[SurveyRow]:
    """Whole models surveyed by ``jobs`` spawned processes (never forked: TensorFlow is loaded
    here); the rows in the serial order. Only keras.applications run there, so a worker
    surveys model after model, each built with fresh naming as in the serial survey."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")
    by_key: dict[str, list[SurveyRow]] = {}
    if on_progress is not None:
        on_progress(Progress(model=f"{min(jobs, len(apps))} processes", done=0, total=len(apps)))
    with ProcessPoolExecutor(
        max_workers=min(jobs, len(apps)), mp_context=context, initializer=_worker_start, initargs=(imports,)
    ) as pool:
        futures = {pool.submit(_worker_survey, app.key, sizes, counts, batch, native): app for app in apps}
        try:
            for future in as_completed(futures):
                by_key[futures[future].key] = future.result()
                if on_progress is not None:
                    on_progress(Progress(model=futures[future].name, done=len(by_key), total=len(apps)))
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return [row for app in apps for row in by_key[app.key]]
