"""Two probes side by side: the rows until their shapes meet, then the answer in one line."""

from __future__ import annotations

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from shapetrace.compare import AlignedRow, Comparison
from shapetrace.records import LayerTrace, format_shape

__all__ = ["compare_table", "compare_report"]

STYLE_DIFFERS = "yellow"
STYLE_SAME = "green"
STYLE_BREAK = "bold red"


def _shape_cell(row: LayerTrace | None) -> Text:
    if row is None:
        return Text("not reached", style="dim")
    if row.failed:
        return Text("✗ breaks", style=STYLE_BREAK)
    return Text(format_shape(row.output))


def _status(row: AlignedRow, converged: bool) -> Text:
    if row.same:
        return Text("same from here on" if converged else "same", style=f"bold {STYLE_SAME}" if converged else STYLE_SAME)
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
        breaks = [i for i, r in enumerate(comparison.rows)
                  if (r.first is not None and r.first.failed) or (r.second is not None and r.second.failed)
                  or r.first is None or r.second is None]
        end = breaks[0] if breaks else n - 1
    shown: list[int | None] = list(range(min(end + 1, n)))
    if end + 1 < n - 1:
        shown.append(None)
    if end + 1 <= n - 1:
        shown.append(n - 1)
    return shown


def compare_table(comparison: Comparison, *, full: bool = False) -> Table:
    """Aligned rows; after the point where the shapes meet, only a count and the last row."""
    a, b = comparison.channels
    table = Table(
        title=f"{comparison.model} · {a} channel{'s' if a != 1 else ''} vs {b} channel{'s' if b != 1 else ''}",
        title_justify="left",
        header_style="bold",
    )
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("layer", no_wrap=True)
    table.add_column("type", no_wrap=True)
    table.add_column(f"{a}-channel probe", no_wrap=True)
    table.add_column(f"{b}-channel probe", no_wrap=True)
    table.add_column("shapes", no_wrap=True)
    shown = _shown(comparison, full)
    for k, position in enumerate(shown):
        if position is None:
            following = shown[k + 1] if k + 1 < len(shown) else len(comparison.rows)
            hidden = following - shown[k - 1] - 1
            note = "same shapes" if comparison.converged_at is not None else "one probe only"
            table.add_row("⋮", Text(f"{hidden} more layer calls, {note}", style="dim"), "", "", "", "")
            continue
        row = comparison.rows[position]
        converged = position == comparison.converged_at
        style = "bold" if converged else None
        table.add_row(
            str(position),
            row.path,
            row.type,
            _shape_cell(row.first),
            _shape_cell(row.second),
            _status(row, converged),
            style=style,
        )
    return table


def compare_report(comparison: Comparison, *, full: bool = False) -> Group:
    """The aligned table, then the answer framed so it cannot be missed."""
    answer = Text(comparison.headline)
    answer.stylize("bold")
    return Group(
        compare_table(comparison, full=full),
        Text(),
        Panel(answer, title="answer", title_align="left", border_style="green" if comparison.converged_at
              is not None else "red", expand=False),
    )
