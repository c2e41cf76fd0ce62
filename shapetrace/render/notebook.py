"""Results in a notebook: the terminal's report as HTML, and as a rich renderable.

A notebook cell shows the same table as ``shapetrace MODEL`` piped (every column, whole
shapes) with the same highlights, as inline-styled HTML — no stylesheet, so it survives
nbconvert and GitHub's notebook viewer. A long trace shows its changes first and keeps
every row one click away in a ``<details>`` element. Returns strings and renderables;
never prints.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table

from shapetrace.baselines.check import CheckResult
from shapetrace.baselines.diff import ShapeDiff
from shapetrace.explore.compare import Comparison
from shapetrace.explore.survey import Survey
from shapetrace.records import Trace
from shapetrace.render.compare import compare_report
from shapetrace.render.diff import check_report, diff_table
from shapetrace.render.survey import survey_report
from shapetrace.render.table import trace_report, trace_table
from shapetrace.render.text import offscreen_console

__all__ = ["html_of", "renderable_of", "summary_line", "LONG_TRACE"]

LONG_TRACE = 40
"""Rows above which a trace opens on its changes, with every row behind a ``<details>``."""

# A fragment for a notebook cell (rich's default is a whole page): monospace, the table's
# own line breaks, no wrapping (a cut shape is worse than a horizontal scroll bar).
_PRE = (
    "<pre style=\"font-family: Menlo, 'DejaVu Sans Mono', Consolas, monospace; font-size: 12px; "
    'line-height: 1.2; white-space: pre; overflow-x: auto; margin: 0">{code}</pre>'
)

_RENDERERS: tuple[tuple[type, Callable[[Any], RenderableType]], ...] = (
    (Trace, trace_report),
    (Survey, survey_report),
    (Comparison, compare_report),
    (CheckResult, check_report),
    (ShapeDiff, diff_table),
)


def renderable_of(result: Any) -> RenderableType:
    """The rich renderable the CLI prints for ``result`` (a trace, survey, comparison or check)."""
    for kind, render in _RENDERERS:
        if isinstance(result, kind):
            return render(result)
    raise TypeError(
        f"shapetrace cannot render a {type(result).__name__}: expected a Trace, Survey, "
        "Comparison, CheckResult or ShapeDiff."
    )


def summary_line(result: Any) -> str:
    """One line for a text-only frontend (the dataclass repr of a big trace runs to megabytes)."""
    name = type(result).__name__
    if isinstance(result, Trace):
        return (
            f"<Trace {result.model}: {result.verdict}, {len(result.layers):,} layer calls, "
            f"{len(result.changes)} channel changes, probe {result.probe.shape}>"
        )
    if isinstance(result, Survey):
        return f"<Survey: {len(result.passed)} of {len(result.rows)} models take a {result.channels}-channel probe>"
    if isinstance(result, Comparison):
        return f"<Comparison {result.first.model}: {len(result.rows)} aligned rows>"
    if isinstance(result, CheckResult):
        return f"<CheckResult {result.baseline}: {result.status}>"
    if isinstance(result, ShapeDiff):
        return f"<ShapeDiff {result.model}: {result.summary}>"
    return f"<{name}>"


def html_of(result: Any) -> str:
    """``result`` as an HTML fragment for a notebook cell (``_repr_html_``)."""
    if isinstance(result, Trace) and len(result.layers) > LONG_TRACE:
        return _folded_trace(result)
    return _div(_html(renderable_of(result)))


def _folded_trace(trace: Trace) -> str:
    """The changes-only report, then every row behind a ``<details>`` the reader opens."""
    changed = len(trace.changes) + (trace.broken is not None)
    summary = (
        f"All {len(trace.layers):,} rows ({changed} with a change; shown above with their neighbours "
        "marked ⋮)"
        if changed
        else f"All {len(trace.layers):,} rows (none changes the channels)"
    )
    every_row = _html(trace_table(trace))
    return _div(
        _html(trace_report(trace, changes_only=True))
        + f'<details><summary style="cursor: pointer">{html.escape(summary)}</summary>{every_row}</details>'
    )


def _div(inner: str) -> str:
    return f'<div class="shapetrace">{inner}</div>'


def _html(renderable: RenderableType) -> str:
    """Inline-styled HTML, as wide as the renderable's first table needs (never cut)."""
    console = offscreen_console(measure=_first_table(renderable), export=True)
    console.print(renderable)
    return console.export_html(inline_styles=True, code_format=_PRE)


def _first_table(renderable: RenderableType) -> Table | None:
    if isinstance(renderable, Table):
        return renderable
    for part in getattr(renderable, "renderables", ()) if isinstance(renderable, Group) else ():
        found = _first_table(part)
        if found is not None:
            return found
    return None
