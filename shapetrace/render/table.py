"""The trace as a rich table, plus the verdict beneath it. Returns renderables; never prints."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from rich.console import Group, JustifyMethod, RenderableType
from rich.table import Table
from rich.text import Text

from shapetrace.options import Layout
from shapetrace.records import LayerTrace, Trace, format_shape
from shapetrace.render.columns import Column, Form, build_table, fit_whole_or_compact, left_out_note, rows_of
from shapetrace.render.costs import cost_footer
from shapetrace.render.fit import Fit, ShapeSafeText, compact_shape_text
from shapetrace.render.hints import break_hint
from shapetrace.tracing.costs import format_bytes, format_count, format_macs, totals_of
from shapetrace.tracing.explain import verdict_text
from shapetrace.tracing.selection import View, collapse_depth

if TYPE_CHECKING:
    from shapetrace.models.catalog import Application

__all__ = [
    "trace_table",
    "trace_report",
    "applications_table",
    "inputs_legend",
    "path_within_model",
]

STYLE_CHANGE = "bold yellow"
STYLE_BREAK = "bold red"
MARK_DIFFERS = "≠"  # actual differs from what the graph declares
MARK_STATIC = "§"  # Keras's static inference disagrees with the real run


def _channels_cell(row: LayerTrace) -> str:
    # A tensor without a last axis of its own (a scalar per example, or an unbatched vector
    # such as positions) has no count to show: "-", never "None".
    before = "-" if row.channels_in is None else row.channels_in
    if row.failed:
        return f"{before} → ✗"
    if row.channels_changed:
        return f"{before} → {'-' if row.channels_out is None else row.channels_out}"
    return "" if row.channels_out is None else str(row.channels_out)


def image_like(trace: Trace) -> bool:
    """Every probe is an image (or signal): the last axis is then rightly called channels."""
    return all(probe.image_like for probe in trace.probes)


def _header(name: str, trace: Trace) -> str:
    """A column's header in the words of this trace's inputs ("ch" only for images)."""
    if name == "ch" and not image_like(trace):
        return "last axis"
    return COLUMN_CELLS[name][0]


def _actual_cell(row: LayerTrace, compact: bool = False) -> Text:
    if row.failed:
        return Text("✗ breaks", style=STYLE_BREAK)
    shape = format_shape(row.output)
    text = Text(compact_shape_text(shape) if compact else shape)
    if row.differs_from_declared:
        text.append(f" {MARK_DIFFERS}", style="bold magenta")
    if row.static_disagrees:
        text.append(f" {MARK_STATIC}", style="bold cyan")
    return text


def _why_cell(row: LayerTrace, trace: Trace) -> str:
    if row.failed and trace.broken is not None:
        text = trace.broken.summary
    else:
        parts = []
        if row.why:
            parts.append(row.why)
        if row.static_disagrees:
            parts.append(f"static inference says {format_shape(row.static_output)}")
        if row.shared:
            parts.append("shared layer, params counted once")
        text = "; ".join(parts)
    # Shapes as everywhere else; the column wraps between words, never inside a shape
    # (ShapeSafeText: the column is shape_safe), and the compact form drops every shape's spaces.
    return text


def _cost_cell(n: int | None, formatter: Callable[[int | None], str] = format_count) -> str:
    if n is None:
        return "?"  # a cost shapetrace does not know (never counted as 0)
    return formatter(n) if n else "-"


WRAPPING_COLUMNS = {"why"}
"""Prose: wraps between words, never inside a shape, in every form; other columns never wrap."""
FITTED_WRAPPING_COLUMNS = {"why", "inputs"}
"""On a terminal, a list of input shapes may also wrap, between its (compact) shapes."""
SHAPE_COLUMNS = {"inputs", "declared", "static"}
REQUIRED_COLUMNS = ("index", "layer", "actual", "ch", "why")
"""Always shown on a terminal (when asked for): the story is in these."""
COLUMN_PRIORITY = (
    "type",
    "declared",
    "params",
    "macs",
    "static",
    "inputs",
    "memory",
    "trainable",
    "non_trainable",
)
"""The other columns, most wanted first: they join the table while the window has room."""

# Column name (see shapetrace.tracing.selection.COLUMNS) → header, justification, cell.
COLUMN_CELLS: dict[str, tuple[str, JustifyMethod, Callable[[LayerTrace, Trace], str | Text]]] = {
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


def path_within_model(path: str, model: str) -> str:
    """``efficientnetb0/block1a_dwconv`` → ``block1a_dwconv`` (the model's name is in the title);
    nested models keep their prefix below it."""
    prefix = model + "/"
    return path[len(prefix) :] if path.startswith(prefix) and len(path) > len(prefix) else path


def _fitted_cell(name: str, row: LayerTrace, trace: Trace, compact: bool) -> str | Text:
    """A cell as a terminal shows it: paths relative to the model, shapes maybe compact."""
    if name == "layer":
        return path_within_model(row.path, trace.model)
    if name == "actual":
        return _actual_cell(row, compact)
    cell = _cell_text(COLUMN_CELLS[name][2](row, trace))  # plain text: "actual" was the Text one
    if compact and name == "ch":
        return cell.replace(" → ", "→")
    if compact and (name in SHAPE_COLUMNS or name == "why"):
        return compact_shape_text(cell)
    return cell


def _cell_text(cell: str | Text) -> str:
    return cell.plain if isinstance(cell, Text) else cell


def _cell_of(name: str, trace: Trace, fitted: bool, compact: bool) -> Callable[[LayerTrace], str | Text]:
    """A column's cell as piped (``COLUMN_CELLS``), or as a terminal shows it (``fitted``)."""
    if fitted:
        return lambda row: _fitted_cell(name, row, trace, compact)
    cell = COLUMN_CELLS[name][2]
    return lambda row: cell(row, trace)


def _columns(trace: Trace, view: View, *, fitted: bool, compact: bool = False) -> list[Column[LayerTrace]]:
    """The view's columns: whole paths and shapes as Keras writes them, or as a terminal shows
    them (``fitted``; ``compact``: shapes without spaces, and the inputs wrap too)."""
    wrapping = FITTED_WRAPPING_COLUMNS if compact else WRAPPING_COLUMNS
    return [
        Column(
            name,
            _header(name, trace),
            _cell_of(name, trace, fitted, compact),
            justify=COLUMN_CELLS[name][1],
            wraps=name in wrapping,
            shape_safe=name in WRAPPING_COLUMNS,
            optional=name not in REQUIRED_COLUMNS,
            folds=name == "layer",
        )
        for name in view.columns
    ]


def _table_rows(trace: Trace, rows: tuple[LayerTrace, ...], depth: int | None) -> Iterator[LayerTrace | None]:
    """The rows to draw, with ``None`` where rows were left out (a ``⋮`` gap row)."""
    # Positions in the (possibly collapsed) full row list: a jump means rows were left out.
    position = {row.index: i for i, row in enumerate(collapse_depth(trace.layers, depth))}
    previous = None
    for row in rows:
        if position.get(row.index, 0) != (-1 if previous is None else position.get(previous, 0)) + 1:
            yield None  # rows left out before this one
        previous = row.index
        yield row
    if previous is not None and position.get(previous, 0) != len(position) - 1:
        yield None  # and after the last one shown


def _table_options(trace: Trace, edge: bool = True) -> dict[str, Any]:
    shapes = [
        format_shape(p.shape) if edge else compact_shape_text(format_shape(p.shape)) for p in trace.probes
    ]
    # Every input's probe by name when there are several (the first alone would hide the others).
    probes = (
        "probe " + shapes[0]
        if len(shapes) == 1
        else "probes " + ", ".join(f"{p.name} {s}" for p, s in zip(trace.probes, shapes))
    )
    return dict(
        title=f"{trace.model} · {probes}",
        title_justify="left",
        caption=(
            f"{MARK_DIFFERS} actual differs from declared   "
            f"{MARK_STATIC} Keras's static shape inference disagrees   "
            + (
                "highlighted: channel count changes"
                if image_like(trace)
                else "highlighted: the last axis changes"
            )
        ),
        caption_justify="left",
        header_style="bold",
        show_lines=False,
    )


def _row_style(row: LayerTrace) -> str | None:
    return STYLE_BREAK if row.failed else STYLE_CHANGE if row.channels_changed else None


def trace_table(
    trace: Trace, *, changes_only: bool = False, view: View | None = None, layout: Layout | None = None
) -> Table:
    """One row per executed layer call, in execution order (``view``: columns, depth, layers).

    ``layout``: the full table (default), or one fitted to a terminal's width.
    """
    return _trace_table(trace, changes_only=changes_only, view=view, layout=layout)[0]


def _trace_table(
    trace: Trace, *, changes_only: bool, view: View | None, layout: Layout | None
) -> tuple[Table, Fit | None]:
    """The full table (every column asked for, whole paths and shapes, as wide as it needs),
    or, for a window, the whole form fitted to it when every column fits (the why column
    wrapped at most), else the compact form (``(1,64,64,3)``, ``3→32``, no outer edge) with
    the columns chosen by priority."""
    view = view or View()
    if changes_only:
        view = replace(view, changes_only=True)
    drawn = list(_table_rows(trace, view.rows(trace), view.depth))
    if layout is None or layout.width is None:
        columns = _columns(trace, view, fitted=False)
        return build_table(columns, rows_of(columns, drawn, _row_style), **_table_options(trace)), None

    def form(compact: bool) -> Form:
        columns = _columns(trace, view, fitted=True, compact=compact)
        return columns, rows_of(columns, drawn, _row_style)

    shown, rows, fit = fit_whole_or_compact(form, layout.width, COLUMN_PRIORITY)
    return build_table(shown, rows, fit, **_table_options(trace, edge=fit.edge)), fit


def totals_text(trace: Trace) -> Text:
    layers = len(trace.layers)
    return Text(
        f"{layers:,} layer calls · {trace.total_params:,} params · "
        f"walked in {trace.seconds:.2f} s ({trace.engine} engine{backend_note(trace)})",
        style="dim",
    )


def backend_note(trace: Trace) -> str:
    """``, Keras 3.15.1 on JAX``: what computed the trace (empty for a trace that does not say)."""
    from shapetrace.backends import BACKEND_TITLES

    backend = trace.versions.get("backend")
    if not backend:
        return ""
    keras = trace.versions.get("keras")
    return f", {'Keras ' + keras + ' ' if keras else ''}on {BACKEND_TITLES.get(backend, backend)}"


def trace_report(
    trace: Trace,
    *,
    changes_only: bool = False,
    show_timing: bool = True,
    view: View | None = None,
    footer: bool = True,
    layout: Layout | None = None,
) -> Group:
    """Table, cost footer, boundary, verdict, hint and totals: everything ``shapetrace MODEL`` shows.

    ``layout``: the full table (default), or one fitted to a terminal's width (then a line
    under it names the columns left out).
    """
    table, fit = _trace_table(trace, changes_only=changes_only, view=view, layout=layout)
    # Prose is written like the table above it: in the compact form (no outer edge) its shapes
    # lose their spaces too. Piped or not, it wraps between words, never inside a shape.
    prose = compact_shape_text if fit is not None and not fit.edge else str
    parts: list[RenderableType] = [table]
    note = left_out_note(fit)
    if note is not None:
        parts.append(note)
    legend = inputs_legend(trace, compact=fit is not None)
    if legend is not None:
        parts.append(legend)
    parts.append(Text())
    if footer:
        parts += [cost_footer(totals_of(trace)), Text()]
    boundary = trace.boundary
    if boundary.accepted:
        line = Text("Model boundary: ", style="bold").append("accepted", style="green")
        if boundary.reason:
            line.append(prose(f" ({boundary.reason})"))
    else:
        line = Text("Model boundary: ", style="bold").append("rejected", style=STYLE_BREAK)
        line.append(prose(f" — {boundary.reason}"))
    parts.append(ShapeSafeText(line))
    verdict = Text("Verdict: ", style="bold")
    verdict.append("ok" if trace.ok else "broken", style="green" if trace.ok else STYLE_BREAK)
    verdict.append(prose(". " + verdict_text(trace)))
    parts.append(ShapeSafeText(verdict))
    hint = break_hint(trace)
    if hint:
        parts.append(ShapeSafeText(Text("Hint: ", style="bold").append(prose(hint))))
    if show_timing:
        parts.append(totals_text(trace))
    else:
        parts.append(Text(f"{len(trace.layers):,} layer calls · {trace.total_params:,} params", style="dim"))
    return Group(*parts)


def applications_table(apps: Iterable[Application]) -> Table:
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


def inputs_legend(trace: Trace, *, compact: bool = False) -> Text | None:
    """For a model with several inputs: which rows each input's probe reaches, and whose the break is.

    The legend goes beneath the table (``None`` for one input); ``compact`` writes its shapes
    without spaces, for a terminal where it wraps.
    """
    if len(trace.probes) < 2:
        return None
    text = Text("Inputs: ", style="bold")
    for n, probe in enumerate(trace.probes):
        rows = [layer.index for layer in trace.layers if probe.name in layer.sources]
        shape = format_shape(probe.shape)
        shape = compact_shape_text(shape) if compact else shape
        text.append(("" if n == 0 else " · ") + f"{probe.name} {shape} reaches rows {_ranges(rows)}")
    broken = trace.broken
    if broken is not None and broken.sources:
        names = " and ".join(broken.sources)
        text.append(f"\nThe break at row {broken.index} ({broken.layer}) is on the path of input {names}.")
    return text


def _ranges(indices: list[int]) -> str:
    """``[0, 2, 3, 4, 7]`` → ``0, 2–4, 7``."""
    if not indices:
        return "none"
    parts: list[str] = []
    start: int | None = indices[0]
    for previous, current in zip(indices, [*indices[1:], None]):
        if current is None or current != previous + 1:
            parts.append(str(start) if start == previous else f"{start}–{previous}")
            start = current
    return ", ".join(parts)
