"""Tables declared as columns: one builder for a table as wide as it needs and one fitted to a window.

A renderer declares its columns (header, justification, how to get a cell, whether the column
wraps or may be left out) and its rows; this module measures the cells, lets
:func:`shapetrace.render.fit.choose_columns` pick the columns and widths for a window, and
builds the rich table either way, so every table is drawn and fitted by the same rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from rich.console import JustifyMethod
from rich.table import Table
from rich.text import Text

from shapetrace.render.fit import (
    PROSE_MIN_WIDTH,
    ColumnSpec,
    Fit,
    ShapeSafeText,
    choose_columns,
    spec_of,
    table_width,
)

__all__ = [
    "GAP",
    "Cell",
    "Column",
    "Form",
    "Row",
    "build_table",
    "fit_columns",
    "fit_whole_or_compact",
    "left_out_note",
    "natural_width",
    "row_of",
    "rows_of",
]

Cell = str | Text
T = TypeVar("T")

GAP_MARK = "⋮"


@dataclass(frozen=True)
class Column(Generic[T]):
    """One column of a table whose rows are ``T``s."""

    name: str
    """What the fit and the note on the columns left out call it (for the trace table, the
    word ``--columns`` accepts)."""
    header: str
    cell: Callable[[T], Cell]
    """The cell of one row."""
    justify: JustifyMethod = "left"
    wraps: bool = False
    """Prose: may narrow below its natural width and wrap at spaces; every other column keeps
    its width (a cut shape is worse than a wide table)."""
    shape_safe: bool = False
    """Its cells wrap between words, never inside a shape (:class:`ShapeSafeText`)."""
    optional: bool = False
    """A fitted table may leave it out (it joins by priority while it fits); the others are
    always shown."""
    folds: bool = False
    """A column of names: as a last resort it folds (see :func:`~shapetrace.render.fit.spec_of`)."""
    prose_min: int = PROSE_MIN_WIDTH
    """How narrow a wrapping column may become while the window allows."""
    room_for: str = ""
    """Text the column keeps room for whatever its cells (the diff's arrow, even without rows)."""


@dataclass(frozen=True)
class Row:
    """One drawn row: its cells in the columns' order, or ``None`` for a gap where rows were
    left out (``⋮`` in the first column shown)."""

    cells: tuple[Cell, ...] | None
    style: str | None = None


GAP = Row(None, style="dim")


def row_of(columns: Sequence[Column[T]], item: T, style: str | None = None) -> Row:
    """The row of ``item``, its cells from the columns."""
    return Row(tuple(column.cell(item) for column in columns), style)


def rows_of(
    columns: Sequence[Column[T]],
    items: Iterable[T | None],
    style: Callable[[T], str | None] | None = None,
) -> list[Row]:
    """A row per item (``None``: a gap row, :data:`GAP`), styled by ``style``."""
    return [
        GAP if item is None else row_of(columns, item, None if style is None else style(item))
        for item in items
    ]


def _plain(cell: Cell) -> str:
    return cell.plain if isinstance(cell, Text) else cell


def _specs(columns: Sequence[Column[Any]], rows: Sequence[Row]) -> list[ColumnSpec]:
    drawn = [row.cells for row in rows if row.cells is not None]
    # A gap's ⋮ goes in whichever column the fit shows first, so every column keeps room for it.
    gap = [GAP_MARK] if len(drawn) < len(rows) else []
    return [
        spec_of(
            column.name,
            [_plain(cells[k]) for cells in drawn] + gap + ([column.room_for] if column.room_for else []),
            header=column.header,
            wraps=column.wraps,
            required=not column.optional,
            prose_min=column.prose_min,
            folds=column.folds,
        )
        for k, column in enumerate(columns)
    ]


def natural_width(columns: Sequence[Column[Any]], rows: Sequence[Row], *, edge: bool = True) -> int:
    """The width of the table with every column as wide as its widest cell."""
    return table_width((spec.natural for spec in _specs(columns, rows)), edge=edge)


def fit_columns(
    columns: Sequence[Column[Any]],
    rows: Sequence[Row],
    width: int,
    priority: Sequence[str] = (),
    *,
    edge: bool = True,
) -> Fit:
    """The columns to show in ``width`` cells, and their widths (see
    :func:`~shapetrace.render.fit.choose_columns`; ``priority``: the optional columns, most
    wanted first)."""
    return choose_columns(_specs(columns, rows), width, priority, edge=edge)


Form = tuple[Sequence[Column[Any]], list[Row]]


def fit_whole_or_compact(
    form: Callable[[bool], Form], width: int, priority: Sequence[str] = ()
) -> tuple[Sequence[Column[Any]], list[Row], Fit]:
    """The whole form, its outer edge drawn, when every column fits ``width`` (only prose
    wrapped); otherwise the compact form, without the outer edge (4 more cells for the prose),
    with the columns chosen by ``priority``.

    ``form(compact)`` gives a form's columns and rows.
    """
    columns, rows = form(False)
    fit = fit_columns(columns, rows, width, priority, edge=True)
    if fit.left_out or not fit.fits:
        columns, rows = form(True)
        fit = fit_columns(columns, rows, width, priority, edge=False)
    return columns, rows, fit


def build_table(
    columns: Sequence[Column[Any]],
    rows: Iterable[Row],
    fit: Fit | None = None,
    *,
    edge: bool = True,
    **options: Any,
) -> Table:
    """The rich table of ``rows``.

    Without ``fit``, every column as wide as it needs (``edge``: draw the outer edge); with
    it, only the columns it chose, at its widths, with its edge. ``options`` go to
    :class:`rich.table.Table` (title, caption, ...).
    """
    edge = edge if fit is None else fit.edge
    table = Table(show_edge=edge, pad_edge=edge, **options)
    shown = [k for k, column in enumerate(columns) if fit is None or column.name in fit.shown]
    for k in shown:
        column = columns[k]
        if fit is None:
            table.add_column(column.header, justify=column.justify, no_wrap=not column.wraps)
        else:
            # Every column gets the width the fit chose, so rich has nothing left to squeeze: a
            # column only wraps when the fit made it narrower than its text (prose; a name as a
            # last resort — shapes are never narrowed).
            table.add_column(
                column.header, justify=column.justify, width=fit.width_of(column.name), overflow="fold"
            )
    for row in rows:
        if row.cells is None:
            table.add_row(GAP_MARK, *[""] * (len(shown) - 1), style=row.style)
        else:
            cells = [(columns[k], row.cells[k]) for k in shown]
            table.add_row(*[ShapeSafeText(c) if col.shape_safe else c for col, c in cells], style=row.style)
    return table


def left_out_note(
    fit: Fit | None, *, columns_option: bool = True, titles: Mapping[str, str] | None = None
) -> Text | None:
    """The line under a fitted table naming the columns it left out, and how to see them.

    ``columns_option``: the command also takes ``--columns`` (whose words are the names
    shown); ``titles``: how to call the columns instead of their names.
    """
    if fit is None or not fit.left_out:
        return None
    names = [(titles or {}).get(name, name) for name in fit.left_out]
    text = Text.assemble(
        (f"Left out to fit {fit.available} columns: {', '.join(names)}. ", "dim"),
        ("--wide", "bold"),
        (" shows every column", "dim"),
    )
    if columns_option:
        text.append_text(Text.assemble(("; ", "dim"), ("--columns", "bold"), (" chooses which", "dim")))
    return text.append(".", style="dim")
