"""Two probes side by side: the rows until their shapes meet, then the answer in one line."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from shapetrace.explore.compare import AlignedRow, Comparison
from shapetrace.options import Layout
from shapetrace.records import LayerTrace, format_shape
from shapetrace.render.columns import (
    Cell,
    Column,
    Form,
    Row,
    build_table,
    fit_whole_or_compact,
    left_out_note,
    row_of,
)
from shapetrace.render.fit import Fit, compact_shape_text
from shapetrace.render.table import path_within_model

__all__ = ["compare_table", "compare_report"]

STYLE_DIFFERS = "yellow"
STYLE_SAME = "green"
STYLE_BREAK = "bold red"


def _shape_cell(row: LayerTrace | None, compact: bool = False) -> Text:
    if row is None:
        return Text("not reached", style="dim")
    if row.failed:
        return Text("✗ breaks", style=STYLE_BREAK)
    shape = format_shape(row.output)
    return Text(compact_shape_text(shape) if compact else shape)


def _status(row: AlignedRow, converged: bool) -> Text:
    if row.same:
        return Text(
            "same from here on" if converged else "same",
            style=f"bold {STYLE_SAME}" if converged else STYLE_SAME,
        )
    if (row.first is not None and row.first.failed) or (row.second is not None and row.second.failed):
        return Text("break", style=STYLE_BREAK)
    return Text("differs", style=STYLE_DIFFERS)


def _shown(comparison: Comparison, full: bool) -> list[int | None]:
    """Positions to show (``None`` marks a gap): everything up to where the shapes meet or a
    probe breaks, then the last row."""
    n = len(comparison.rows)
    if full or n <= 12:
        return list(range(n))
    if comparison.converged_at is not None:
        end = comparison.converged_at
    else:
        breaks = [
            i
            for i, r in enumerate(comparison.rows)
            if (r.first is not None and r.first.failed)
            or (r.second is not None and r.second.failed)
            or r.first is None
            or r.second is None
        ]
        end = breaks[0] if breaks else n - 1
    shown: list[int | None] = list(range(min(end + 1, n)))
    if end + 1 < n - 1:
        shown.append(None)
    if end + 1 <= n - 1:
        shown.append(n - 1)
    return shown


def compare_table(comparison: Comparison, *, full: bool = False, layout: Layout | None = None) -> Table:
    """Aligned rows; after the point where the shapes meet, only a count and the last row.

    ``layout``: the full table (default), or one fitted to a terminal's width.
    """
    return _compare_table(comparison, full=full, layout=layout)[0]


_PRIORITY = ("type",)
"""On a narrow terminal ``type`` is the column that may go."""


def _columns(comparison: Comparison, *, fitted: bool, compact: bool) -> list[Column[int]]:
    """The columns of a row by its position; ``fitted``: paths below the model; ``compact``:
    shapes without spaces, shorter headers (the title names the probes), the status wraps."""
    a, b = comparison.channels
    probe = "-channel" if compact else "-channel probe"
    rows = comparison.rows

    def path(position: int) -> str:
        row = rows[position]
        return path_within_model(row.path, comparison.model) if fitted else row.path

    return [
        Column("index", "#", str, justify="right"),
        Column("layer", "layer", path, folds=True),
        Column("type", "type", lambda p: rows[p].type, optional=True),
        Column("first", f"{a}{probe}", lambda p: _shape_cell(rows[p].first, compact)),
        Column("second", f"{b}{probe}", lambda p: _shape_cell(rows[p].second, compact)),
        Column(
            "shapes",
            "shapes",
            lambda p: _status(rows[p], p == comparison.converged_at),
            wraps=compact,
            prose_min=4,
        ),
    ]


def _form(comparison: Comparison, full: bool, *, fitted: bool, compact: bool) -> Form:
    columns = _columns(comparison, fitted=fitted, compact=compact)
    return columns, _rows(comparison, columns, full, fitted=fitted)


def _compare_table(comparison: Comparison, *, full: bool, layout: Layout | None) -> tuple[Table, Fit | None]:
    fit = None
    if layout is None or layout.width is None:
        columns, rows = _form(comparison, full, fitted=False, compact=False)
    else:
        columns, rows, fit = fit_whole_or_compact(
            lambda compact: _form(comparison, full, fitted=True, compact=compact), layout.width, _PRIORITY
        )
    a, b = comparison.channels
    table = build_table(
        columns,
        rows,
        fit,
        title=f"{comparison.model} · {a} channel{'s' if a != 1 else ''} vs {b} channel{'s' if b != 1 else ''}",
        title_justify="left",
        header_style="bold",
    )
    return table, fit


def _rows(comparison: Comparison, columns: list[Column[int]], full: bool, *, fitted: bool) -> list[Row]:
    """Each drawn row; fitted: a gap row that keeps its words out of the layer column's width."""
    out: list[Row] = []
    shown = _shown(comparison, full)
    for k, position in enumerate(shown):
        if position is not None:
            out.append(row_of(columns, position, "bold" if position == comparison.converged_at else None))
            continue
        following = shown[k + 1] if k + 1 < len(shown) else len(comparison.rows)
        before = shown[k - 1]
        assert following is not None and before is not None  # a gap sits between two shown rows
        hidden = following - before - 1
        note = "same shapes" if comparison.converged_at is not None else "one probe only"
        if fitted:
            cells: tuple[Cell, ...] = (
                "⋮",
                Text(f"{hidden} more layer calls", style="dim"),
                "",
                "",
                "",
                Text(note, style="dim"),
            )
        else:
            cells = ("⋮", Text(f"{hidden} more layer calls, {note}", style="dim"), "", "", "", "")
        out.append(Row(cells))
    return out


def compare_report(comparison: Comparison, *, full: bool = False, layout: Layout | None = None) -> Group:
    """The aligned table, then the answer framed so it cannot be missed.

    ``layout``: the full table (default), or one fitted to a terminal's width (the answer
    then wraps at that width, its shapes written without spaces so none is split).
    """
    table, fit = _compare_table(comparison, full=full, layout=layout)
    headline = comparison.headline if fit is None else compact_shape_text(comparison.headline)
    answer = Text(headline)
    answer.stylize("bold")
    parts: list[RenderableType] = [table]
    note = left_out_note(fit, columns_option=False)
    if note is not None:
        parts.append(note)
    parts += [
        Text(),
        Panel(
            answer,
            title="answer",
            title_align="left",
            border_style="green" if comparison.converged_at is not None else "red",
            expand=False,
        ),
    ]
    return Group(*parts)
