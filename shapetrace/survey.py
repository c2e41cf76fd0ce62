"""Trace every ``keras.applications`` model (or the matching ones) with one probe, in one process.

Each model is traced exactly as ``shapetrace.trace(name, ...)`` would trace it
alone: :func:`~shapetrace.applications.build_application` starts layer naming
afresh, and the model and Keras's session are released before the next one is
built, so memory does not grow with the number of models.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

from shapetrace.applications import APPLICATIONS, Application, parse_size, validate_channels
from shapetrace.costs import totals_of
from shapetrace.display import Displayable
from shapetrace.errors import UsageError
from shapetrace.records import Trace

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

    @property
    def passed(self) -> tuple[SurveyRow, ...]:
        return tuple(r for r in self.rows if r.verdict == "ok")

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "channels": self.channels,
            "size": self.size,
            "native": self.native,
            "models": len(self.rows),
            "passed": len(self.passed),
            "seconds": round(self.seconds, 3),
            "versions": dict(self.versions),
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


def validate_survey_options(
    *, channels: int, size: str | tuple[int, int] | None, models: str | None
) -> tuple[Application, ...]:
    """Validate the survey's options without building anything; returns the chosen applications.

    Raises:
        UsageError: bad channels, size or pattern (exit code 2 in the CLI).
    """
    validate_channels(channels)
    apps = select_applications(models)
    _validate_sizes(apps, size)
    return apps


@dataclass(frozen=True)
class Progress:
    """Sent before each model is built (``done`` models finished so far)."""

    model: str
    done: int
    total: int


def survey(
    *,
    channels: int = 3,
    size: str | tuple[int, int] | None = None,
    models: str | None = None,
    batch: int = 1,
    native: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
) -> Survey:
    """Trace each matching application with the same probe, each as if it were alone.

    Args:
        channels: probe channels.
        size: ``"HxW"``, ``(h, w)``, ``"default"`` (each model's own, the default) or ``"min"``.
        models: a regular expression selecting applications by name (default: all 40).
        batch: probe batch size.
        native: build each model for ``channels`` instead of 3.
        on_progress: called before each model and once at the end (for a progress bar).

    Returns:
        A frozen :class:`Survey`, rows in ``shapetrace list`` order.
    """
    apps = validate_survey_options(channels=channels, size=size, models=models)
    from shapetrace import _keras_graph as kg  # TensorFlow loads only once the options are sound
    from shapetrace.api import trace_model
    from shapetrace.applications import build_application

    label = (
        size
        if isinstance(size, str) and size in SIZE_WORDS
        else (
            "default"
            if size is None
            else "x".join(map(str, parse_size(size) if isinstance(size, str) else size))
        )
    )
    rows = []
    start = time.perf_counter()
    for done, app in enumerate(apps):
        if on_progress is not None:
            on_progress(Progress(model=app.name, done=done, total=len(apps)))
        app_size = resolve_size(app, size)
        built = time.perf_counter()
        model = build_application(app, size=app_size, channels=channels, native=native)
        build_seconds = time.perf_counter() - built
        request = {
            "model": app.key,
            "channels": channels,
            "size": list(app_size),
            "batch": batch,
            "native": native,
            "top": False,
            "weights": None,
            "pooling": None,
        }
        result = trace_model(model, channels=channels, size=app_size, batch=batch, request=request)
        rows.append(survey_row(app, result, app_size, build_seconds))
        # Drop our references so the next build_application's clear_session (free_memory=True)
        # can release this model: memory stays that of one model, not of all of them.
        del model, result
    kg.reset_naming()  # and release the last one
    if on_progress is not None:
        on_progress(Progress(model="", done=len(apps), total=len(apps)))
    return Survey(
        channels=channels,
        size=str(label),
        native=native,
        rows=tuple(rows),
        seconds=time.perf_counter() - start,
        versions=kg.versions(),
    )
