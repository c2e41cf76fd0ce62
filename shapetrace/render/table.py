"""The trace as a rich table, plus the verdict beneath it. Returns renderables; never prints."""

from __future__ import annotations

import re

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from shapetrace.costs import format_bytes, format_count, format_macs, totals_of
from shapetrace.explain import break_hint, verdict_text
from shapetrace.records import LayerTrace, Trace, format_shape
from shapetrace.render.costs import cost_footer
from shapetrace.selection import View, collapse_depth

__all__ = ["trace_table", "trace_report", "applications_table", "select_rows", "inputs_legend"]

STYLE_CHANGE = "bold yellow"
STYLE_BREAK = "bold red"
MARK_DIFFERS = "≠"  # actual differs from what the graph declares
MARK_STATIC = "§"  # Keras's static inference disagrees with the real run


def select_rows(
    trace: Trace, changes_only: bool, rows: tuple[LayerTrace, ...] | None = None
) -> tuple[LayerTrace, ...]:
    """All rows, or just those where something changed plus the first and the last."""
    rows = trace.layers if rows is None else rows
    if not changes_only or len(rows) <= 2:
        return rows
    keep = [
        row
        for i, row in enumerate(rows)
        if i in (0, len(rows) - 1)
        or row.channels_changed
        or row.differs_from_declared
        or row.static_disagrees
        or row.failed
    ]
    return tuple(keep)


def _channels_cell(row: LayerTrace) -> str:
    if row.failed:
        return f"{row.channels_in} → ✗"
    if row.channels_changed:
        return f"{row.channels_in} → {row.channels_out}"
    return "" if row.channels_out is None else str(row.channels_out)


def _actual_cell(row: LayerTrace) -> Text:
    if row.failed:
        return Text("✗ breaks", style=STYLE_BREAK)
    text = Text(format_shape(row.output))
    if row.differs_from_declared:
        text.append(f" {MARK_DIFFERS}", style="bold magenta")
    if row.static_disagrees:
        text.append(f" {MARK_STATIC}", style="bold cyan")
    return text


def _why_cell(row: LayerTrace, trace: Trace) -> str:
    if row.failed and trace.broken is not None:
        text = f"expected {trace.broken.expected}, received {trace.broken.received}"
    else:
        parts = []
        if row.why:
            parts.append(row.why)
        if row.static_disagrees:
            parts.append(f"static inference says {format_shape(row.static_output)}")
        if row.shared:
            parts.append("shared layer, params counted once")
        text = "; ".join(parts)
    # This column wraps on a narrow terminal, at spaces: shapes lose theirs so none is cut.
    return _SHAPE_IN_PROSE.sub(lambda m: m.group(0).replace(", ", ","), text)


def _cost_cell(n: int, formatter=format_count) -> str:
    return formatter(n) if n else "-"


WRAPPING_COLUMNS = {"why"}
_SHAPE_IN_PROSE = re.compile(r"\((?:None|\d+)(?:, (?:None|\d+))*,?\)")

# Column name (see shapetrace.selection.COLUMNS) → header, justification, cell.
COLUMN_CELLS = {
    "index": ("#", "right", lambda row, trace: str(row.index)),
    "layer": ("layer", "left", lambda row, trace: row.path),
    "type": ("type", "left", lambda row, trace: row.type),
    "inputs": ("inputs", "left", lambda row, trace: ", ".join(format_shape(s) for s in row.inputs)),
    "declared": ("declared", "left", lambda row, trace: format_shape(row.declared_output)),
    "static": ("static", "left", lambda row, trace: format_shape(row.static_output)),
    "actual": ("actual", "left", lambda row, trace: _actual_cell(row)),
    "ch": ("ch", "right", lambda row, trace: _channels_cell(row)),
    "params": ("params", "right", lambda row, trace: f"{row.params:,}"),
    "trainable": ("trainable", "right", lambda row, trace: f"{row.trainable_params:,}"),
    "non_trainable": ("non-trainable", "right", lambda row, trace: f"{row.non_trainable_params:,}"),
    "macs": ("MACs", "right", lambda row, trace: format_macs(row.macs)),
    "memory": ("output bytes", "right", lambda row, trace: _cost_cell(row.activation_bytes, format_bytes)),
    "why": ("why", "left", lambda row, trace: _why_cell(row, trace)),
}


def trace_table(trace: Trace, *, changes_only: bool = False, view: View | None = None) -> Table:
    """One row per executed layer call, in execution order (``view``: columns, depth, layers)."""
    view = view or View()
    table = Table(
        title=f"{trace.model} · probe {format_shape(trace.probe.shape)}",
        title_justify="left",
        caption=(
            f"{MARK_DIFFERS} actual differs from declared   "
            f"{MARK_STATIC} Keras's static shape inference disagrees   "
            "highlighted: channel count changes"
        ),
        caption_justify="left",
        header_style="bold",
        show_lines=False,
    )
    cells = [COLUMN_CELLS[name] for name in view.columns]
    for name, (header, justify, _) in zip(view.columns, cells):
        # Shapes and names never wrap (a cut shape is worse than a wide table); prose may.
        table.add_column(header, justify=justify, no_wrap=name not in WRAPPING_COLUMNS)
    rows = select_rows(trace, changes_only, view.rows(trace))
    # Positions in the (possibly collapsed) full row list: a jump means rows were left out.
    position = {row.index: i for i, row in enumerate(collapse_depth(trace.layers, view.depth))}
    gap = ("⋮", *[""] * (len(cells) - 1))
    previous = None
    for row in rows:
        if position.get(row.index, 0) != (-1 if previous is None else position.get(previous, 0)) + 1:
            table.add_row(*gap, style="dim")  # rows left out before this one
        previous = row.index
        style = STYLE_BREAK if row.failed else STYLE_CHANGE if row.channels_changed else None
        table.add_row(*[cell(row, trace) for _, _, cell in cells], style=style)
    if previous is not None and position.get(previous, 0) != len(position) - 1:
        table.add_row(*gap, style="dim")  # and after the last one shown
    return table


def totals_text(trace: Trace) -> Text:
    layers = len(trace.layers)
    return Text(
        f"{layers:,} layer calls · {trace.total_params:,} params · "
        f"walked in {trace.seconds:.2f} s ({trace.engine} engine)",
        style="dim",
    )


def trace_report(
    trace: Trace,
    *,
    changes_only: bool = False,
    show_timing: bool = True,
    view: View | None = None,
    footer: bool = True,
) -> Group:
    """Table, cost footer, boundary, verdict, hint and totals: everything ``shapetrace MODEL`` shows."""
    parts: list[RenderableType] = [trace_table(trace, changes_only=changes_only, view=view)]
    legend = inputs_legend(trace)
    if legend is not None:
        parts.append(legend)
    parts.append(Text())
    if footer:
        parts += [cost_footer(totals_of(trace)), Text()]
    boundary = trace.boundary
    if boundary.accepted:
        line = Text("Model boundary: ", style="bold").append("accepted", style="green")
        if boundary.reason:
            line.append(f" ({boundary.reason})")
    else:
        line = Text("Model boundary: ", style="bold").append("rejected", style=STYLE_BREAK)
        line.append(f" — {boundary.reason}")
    parts.append(line)
    verdict = Text("Verdict: ", style="bold")
    verdict.append("ok" if trace.ok else "broken", style="green" if trace.ok else STYLE_BREAK)
    verdict.append(". " + verdict_text(trace))
    parts.append(verdict)
    hint = break_hint(trace)
    if hint:
        parts.append(Text("Hint: ", style="bold").append(hint))
    if show_timing:
        parts.append(totals_text(trace))
    else:
        parts.append(Text(f"{len(trace.layers):,} layer calls · {trace.total_params:,} params", style="dim"))
    return Group(*parts)


def applications_table(apps) -> Table:
    table = Table(title="keras.applications", title_justify="left", header_style="bold")
    table.add_column("model", no_wrap=True)
    table.add_column("name for shapetrace", no_wrap=True)
    table.add_column("default size", justify="right", no_wrap=True)
    table.add_column("min size", justify="right", no_wrap=True)
    for app in apps:
        table.add_row(
            app.name,
            app.key,
            f"{app.default_size}x{app.default_size}",
            f"{app.min_size}x{app.min_size}",
        )
    return table


def inputs_legend(trace) -> Text | None:
    """For a model with several inputs: which rows each input's probe reaches, and whose the break is.

    The legend goes beneath the table (``None`` for one input).
    """
    if len(trace.probes) < 2:
        return None
    text = Text("Inputs: ", style="bold")
    for n, probe in enumerate(trace.probes):
        rows = [layer.index for layer in trace.layers if probe.name in layer.sources]
        text.append(("" if n == 0 else " · ") + f"{probe.name} {format_shape(probe.shape)} reaches rows {_ranges(rows)}")
    broken = trace.broken
    if broken is not None and broken.sources:
        names = " and ".join(broken.sources)
        text.append(f"\nThe break at row {broken.index} ({broken.layer}) is on the path of input {names}.")
    return text


def _ranges(indices: list[int]) -> str:
    """``[0, 2, 3, 4, 7]`` → ``0, 2–4, 7``."""
    if not indices:
        return "none"
    parts, start = [], indices[0]
    for previous, current in zip(indices, [*indices[1:], None]):
        if current is None or current != previous + 1:
            parts.append(str(start) if start == previous else f"{start}–{previous}")
            start = current
    return ", ".join(parts)
