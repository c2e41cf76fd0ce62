"""Two probes side by side: the rows until their shapes meet, then the answer in one line."""

from __future__ import annotations

from rich.console import Group, JustifyMethod, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from shapetrace.explore.compare import AlignedRow, Comparison
from shapetrace.options import Layout
from shapetrace.records import LayerTrace, format_shape
from shapetrace.render.fit import Fit, choose_columns, compact_shape_text, spec_of
from shapetrace.render.table import left_out_note, path_within_model

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


COLUMNS = ("index", "layer", "type", "first", "second", "shapes")
"""The comparison's columns; on a narrow terminal ``type`` is the one that may go."""


def _compare_table(comparison: Comparison, *, full: bool, layout: Layout | None) -> tuple[Table, Fit | None]:
    a, b = comparison.channels
    headers = ("#", "layer", "type", f"{a}-channel probe", f"{b}-channel probe", "shapes")
    width = None if layout is None else layout.width
    fitted = width is not None
    rows = _rows(comparison, full, fitted=fitted, compact=False)
    fit = None
    if width is not None:
        fit = _fit(rows, headers, width, edge=True)
        if fit.left_out or not fit.fits:
            # The compact form: shapes without spaces, shorter headers (the title names the
            # probes), no outer edge.
            headers = ("#", "layer", "type", f"{a}-channel", f"{b}-channel", "shapes")
            rows = _rows(comparison, full, fitted=True, compact=True)
            fit = _fit(rows, headers, width, edge=False)
    table = Table(
        title=f"{comparison.model} · {a} channel{'s' if a != 1 else ''} vs {b} channel{'s' if b != 1 else ''}",
        title_justify="left",
        header_style="bold",
        show_edge=fit is None or fit.edge,
        pad_edge=fit is None or fit.edge,
    )
    keep = [k for k, name in enumerate(COLUMNS) if fit is None or name in fit.shown]
    for k in keep:
        justify: JustifyMethod = "right" if COLUMNS[k] == "index" else "left"
        if fit is None:
            table.add_column(headers[k], justify=justify, no_wrap=True)
        else:  # the fit chose every width: only the status words and, last, a name may wrap
            table.add_column(headers[k], justify=justify, width=fit.width_of(COLUMNS[k]), overflow="fold")
    for cells, style in rows:
        table.add_row(*[cells[k] for k in keep], style=style)
    return table, fit


def _fit(rows: list[tuple[list, str | None]], headers: tuple[str, ...], width: int, edge: bool) -> Fit:
    specs = [
        spec_of(
            name,
            [_plain(cells[k]) for cells, _ in rows],
            header=headers[k],
            required=name != "type",
            wraps=name == "shapes" and not edge,
            prose_min=4,
            folds=name == "layer",
        )
        for k, name in enumerate(COLUMNS)
    ]
    return choose_columns(specs, width, ("type",), edge=edge)


def _plain(cell: object) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)


def _rows(
    comparison: Comparison, full: bool, *, fitted: bool, compact: bool
) -> list[tuple[list, str | None]]:
    """Each drawn row's cells (in ``COLUMNS`` order) and style; fitted: relative paths, and a
    gap row that keeps its words out of the layer column's width."""
    out: list[tuple[list, str | None]] = []
    shown = _shown(comparison, full)
    for k, position in enumerate(shown):
        if position is None:
            following = shown[k + 1] if k + 1 < len(shown) else len(comparison.rows)
            before = shown[k - 1]
            assert following is not None and before is not None  # a gap sits between two shown rows
            hidden = following - before - 1
            note = "same shapes" if comparison.converged_at is not None else "one probe only"
            if fitted:
                out.append(
                    (
                        [
                            "⋮",
                            Text(f"{hidden} more layer calls", style="dim"),
                            "",
                            "",
                            "",
                            Text(note, style="dim"),
                        ],
                        None,
                    )
                )
            else:
                out.append(
                    (["⋮", Text(f"{hidden} more layer calls, {note}", style="dim"), "", "", "", ""], None)
                )
            continue
        row = comparison.rows[position]
        converged = position == comparison.converged_at
        out.append(
            (
                [
                    str(position),
                    path_within_model(row.path, comparison.model) if fitted else row.path,
                    row.type,
                    _shape_cell(row.first, compact),
                    _shape_cell(row.second, compact),
                    _status(row, converged),
                ],
                "bold" if converged else None,
            )
        )
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
