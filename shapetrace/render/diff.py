"""A baseline check as renderables: the summary, baseline → now per layer, the accepting command.

Returns renderables; never prints.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from shapetrace.baselines.check import CheckResult
from shapetrace.baselines.diff import FieldChange, ShapeDiff
from shapetrace.options import Layout
from shapetrace.records import format_shape
from shapetrace.render.columns import Column, build_table, fit_columns, natural_width, rows_of
from shapetrace.render.fit import compact_shape_text

__all__ = ["check_report", "diff_table", "MAX_ROWS", "FIELD_TITLES"]

MAX_ROWS = 40
"""Rows of a diff shown inline; the rest is in the ``.obtained.json`` file."""

FIELD_TITLES = {
    "output": "actual shape",
    "declared_output": "declared shape",
    "static_output": "static inference",
    "channels": "channel change",
    "params": "params",
    "added": "layer added",
    "removed": "layer removed",
}
STATUS_STYLE = {
    "match": "bold green",
    "created": "bold green",
    "updated": "bold yellow",
    "differs": "bold red",
}
STATUS_MARK = {"match": "✓", "created": "+", "updated": "↻", "differs": "✗"}


_DiffRow = tuple[str, str, str, str]
"""A diff row's layer, what changed, baseline and now."""


def _value(field: str, value: Any) -> str:
    if field in ("output", "declared_output", "static_output") or field.split(" ")[0] == "probe":
        return (
            "✗ (the probe broke here)"
            if value is None and field == "output"
            else format_shape(None if value is None else tuple(value))
        )
    if field == "channels":
        return "no change" if value is None else str(value)
    if field == "break":
        if not value:
            return "none"
        return f"{value.get('layer')} ({value.get('type')}): expected {value.get('expected')}, received {value.get('received')}"
    if field == "boundary":
        return "accepted" if (value or {}).get("accepted") else f"rejected: {(value or {}).get('reason')}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "-" if value is None else str(value)


def _rows(diff: ShapeDiff, relative: bool = False) -> list[_DiffRow]:
    """(layer, what, baseline, now) per change; ``relative``: paths below the model's name."""
    rows = []
    for layer in diff.layers:
        path = layer.path
        if relative and path.startswith(diff.model + "/"):
            path = path[len(diff.model) + 1 :]
        label = f"{path} ({layer.type})"
        if layer.status == "added":
            added = layer.now.output if layer.now is not None else None
            rows.append((label, FIELD_TITLES["added"], "-", _value("output", added)))
        elif layer.status == "removed":
            removed = layer.baseline.output if layer.baseline is not None else None
            rows.append((label, FIELD_TITLES["removed"], _value("output", removed), "-"))
        else:
            for i, change in enumerate(layer.changes):
                rows.append(
                    (
                        label if i == 0 else "",
                        FIELD_TITLES.get(change.field, change.field),
                        _value(change.field, change.baseline),
                        _value(change.field, change.now),
                    )
                )
    return rows


def _what_cell(what: str) -> Text:
    style = "green" if what == FIELD_TITLES["added"] else "red" if what == FIELD_TITLES["removed"] else None
    return Text(what, style=style or "")


def _columns(compact: bool) -> list[Column[_DiffRow]]:
    """Layer, what, baseline → now; ``compact``: shapes without spaces, and every cell but
    ``what`` wraps between words (a shape is one word)."""
    shaped = compact_shape_text if compact else str
    return [
        Column("layer", "layer", lambda row: row[0], wraps=compact, folds=True, prose_min=12),
        Column("what", "what", lambda row: _what_cell(row[1])),
        Column("baseline", "baseline", lambda row: shaped(row[2]), wraps=compact, prose_min=12),
        Column("arrow", "", lambda row: "→", room_for="→"),
        Column("now", "now", lambda row: Text(shaped(row[3]), style="bold"), wraps=compact, prose_min=12),
    ]


def diff_table(diff: ShapeDiff, *, max_rows: int = MAX_ROWS, layout: Layout | None = None) -> Table:
    """The differing layers, keyed by path: what changed, baseline → now (at most ``max_rows`` rows).

    ``layout``: as wide as the rows need (default), or fitted to a terminal's width: then,
    if the rows are wider than the window, paths lose the model's name, shapes lose their
    spaces and the layer, baseline and now cells wrap between words (a shape is one word,
    never split).
    """
    columns = _columns(compact=False)
    rows = rows_of(columns, _rows(diff)[:max_rows])
    if layout is None or layout.width is None or natural_width(columns, rows, edge=False) <= layout.width:
        return build_table(columns, rows, edge=False, header_style="bold")
    columns = _columns(compact=True)
    rows = rows_of(columns, _rows(diff, relative=True)[:max_rows])
    fit = fit_columns(columns, rows, layout.width, edge=False)
    return build_table(columns, rows, fit, header_style="bold")


def _change_line(change: FieldChange, compact: bool = False) -> Text:
    shaped = compact_shape_text if compact else str
    return Text.assemble(
        ("  " + change.field + ": ", "bold"),
        shaped(_value(change.field, change.baseline)),
        " → ",
        (shaped(_value(change.field, change.now)), "bold"),
    )


def _drift_line(diff: ShapeDiff) -> Text | None:
    if not diff.versions:
        return None
    parts = [f"{c.field} {c.baseline or '?'} → {c.now or '?'}" for c in diff.versions]
    other = (
        "on another Keras backend"
        if any(c.field == "backend" for c in diff.versions)
        else "with other versions"
    )
    return Text(
        f"  note: the baseline was written {other} ({', '.join(parts)}); "
        "such drift often explains a difference and is not a failure by itself.",
        style="yellow",
    )


def check_report(
    result: CheckResult, *, max_rows: int = MAX_ROWS, layout: Layout | None = None
) -> RenderableType:
    """One baseline's outcome: status line, version drift, trace changes, layer table, next step.

    ``layout``: as wide as the diff needs (default), or fitted to a terminal's width.
    """
    fitted = layout is not None and layout.width is not None
    diff = result.diff
    mark, style = STATUS_MARK[result.status], STATUS_STYLE[result.status]
    name = str(result.baseline)
    parts: list[RenderableType] = []
    if result.status == "created":
        parts.append(Text.assemble((f"{mark} {name}", style), ": baseline created (review it and commit it)"))
        return Group(*parts)
    assert diff is not None  # every outcome but "created" carries its diff
    model = diff.model if diff else ""
    if result.status == "match":
        parts.append(
            Text.assemble((f"{mark} {name}", style), f": {model} matches ({diff.layers_total} layers)")
        )
    else:
        verb = "baseline updated, " if result.status == "updated" else ""
        parts.append(Text.assemble((f"{mark} {name}", style), f": {model}: {verb}{diff.summary}"))
    drift = _drift_line(diff)
    if drift is not None:
        parts.append(drift)
    if result.status == "match":
        return Group(*parts)
    for change in diff.trace:
        parts.append(_change_line(change, compact=fitted))
    rows = _rows(diff)
    if rows:
        parts.append(diff_table(diff, max_rows=max_rows, layout=layout))
    if len(rows) > max_rows:
        where = f"; the whole new trace is in {result.obtained}" if result.obtained else ""
        parts.append(Text(f"  … {len(rows) - max_rows} more rows not shown{where}", style="dim"))
    elif result.obtained is not None:
        parts.append(Text(f"  the whole new trace is in {result.obtained}", style="dim"))
    if result.status == "differs" and result.accept_command:
        parts.append(
            Text.assemble("  If this change is intended, accept it with: ", (result.accept_command, "bold"))
        )
    return Group(*parts)
