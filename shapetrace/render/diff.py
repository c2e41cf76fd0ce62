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
from shapetrace.render.fit import ColumnSpec, Fit, choose_columns, compact_shape_text, spec_of, table_width

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


def _rows(diff: ShapeDiff, relative: bool = False) -> list[tuple[str, str, str, str]]:
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


_DIFF_COLUMNS = ("layer", "what", "baseline", "arrow", "now")
_DIFF_HEADERS = ("layer", "what", "baseline", "", "now")


def diff_table(diff: ShapeDiff, *, max_rows: int = MAX_ROWS, layout: Layout | None = None) -> Table:
    """The differing layers, keyed by path: what changed, baseline → now (at most ``max_rows`` rows).

    ``layout``: as wide as the rows need (default), or fitted to a terminal's width: then,
    if the rows are wider than the window, shapes lose their spaces and the layer, baseline
    and now cells wrap between words (a shape is one word, never split).
    """
    rows = _rows(diff)[:max_rows]
    table = Table(header_style="bold", show_edge=False, pad_edge=False)
    fit = None
    if layout is not None and layout.width is not None:
        fit = _fit(rows, _rows(diff, relative=True)[:max_rows], layout.width)
        if fit is not None:
            rows = [
                (label, what, compact_shape_text(old), compact_shape_text(new))
                for label, what, old, new in _rows(diff, relative=True)[:max_rows]
            ]
    for name, header in zip(_DIFF_COLUMNS, _DIFF_HEADERS):
        if fit is None:
            table.add_column(header, no_wrap=True)
        else:
            table.add_column(header, width=fit.width_of(name), overflow="fold")
    for label, what, old, new in rows:
        style = (
            "green" if what == FIELD_TITLES["added"] else "red" if what == FIELD_TITLES["removed"] else None
        )
        table.add_row(label, Text(what, style=style or ""), old, "→", Text(new, style="bold"))
    return table


def _fit(
    rows: list[tuple[str, str, str, str]], relative_rows: list[tuple[str, str, str, str]], width: int
) -> Fit | None:
    """Widths for the compact form (paths below the model, shapes without spaces, cells
    wrapping between words), or ``None`` when the rows fit the window as they are."""

    def specs(compact: bool) -> list[ColumnSpec]:
        shaped = (lambda text: compact_shape_text(text)) if compact else (lambda text: text)
        columns = list(zip(*(relative_rows if compact else rows))) if rows else [(), (), (), ()]
        return [
            spec_of(
                "layer", columns[0], header="layer", wraps=compact, prose_min=12, required=True, folds=True
            ),
            spec_of("what", columns[1], header="what", required=True),
            spec_of(
                "baseline",
                [shaped(t) for t in columns[2]],
                header="baseline",
                wraps=compact,
                prose_min=12,
                required=True,
            ),
            spec_of("arrow", ["→"], required=True),
            spec_of(
                "now",
                [shaped(t) for t in columns[3]],
                header="now",
                wraps=compact,
                prose_min=12,
                required=True,
            ),
        ]

    if table_width((s.natural for s in specs(False)), edge=False) <= width:
        return None
    return choose_columns(specs(True), width, edge=False)


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
