"""The survey as a table (one row per model) and as CSV. Returns text or renderables; never prints."""

from __future__ import annotations

import csv
import io

from rich.console import Console, Group, JustifyMethod, RenderableType
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from shapetrace.explore.survey import Survey, SurveyRow
from shapetrace.options import Layout
from shapetrace.render.fit import Fit, choose_columns, compact_shape_text, spec_of
from shapetrace.render.table import left_out_note
from shapetrace.tracing.costs import format_count


def _natural_width(table: Table) -> int:
    console = Console(width=100_000, file=io.StringIO(), color_system=None)
    return Measurement.get(console, console.options, table).maximum


__all__ = ["survey_table", "survey_report", "survey_csv", "CSV_FIELDS"]

CSV_FIELDS = (
    "model",
    "key",
    "size",
    "channels",
    "boundary_accepted",
    "verdict",
    "layers",
    "first_change_layer",
    "first_change_in",
    "first_change_out",
    "first_change_mechanism",
    "break_layer",
    "break_type",
    "break_expected",
    "break_received",
    "break_reason",
    "params",
    "macs",
    "macs_complete",
    "trace_seconds",
    "build_seconds",
)


def _first_change(row: SurveyRow) -> str:
    if row.first_change_layer is None:
        return "-"
    return f"{row.first_change_in} → {row.first_change_out} at {row.first_change_layer} ({row.first_change_mechanism})"


def _break(row: SurveyRow) -> str:
    if row.break_layer is None:
        return ""
    return f"{row.break_layer.split('/')[-1]} ({row.break_type})"


def _macs(row: SurveyRow) -> str:
    if row.macs is None:
        return "?"  # unknown, never shown as 0
    if row.macs_complete:
        return format_count(row.macs)
    return format_count(row.macs) + " so far" if row.macs else "-"


def _title(result: Survey) -> str:
    if result.grid:
        counts = ", ".join(map(str, result.channel_counts or (result.channels,)))
        sizes = ", ".join(result.sizes or (result.size,))
        return f"keras.applications with probes of {counts} channels · sizes {sizes}" + (
            " · native" if result.native else ""
        )
    return f"keras.applications with a {result.channels}-channel probe · size {result.size}" + (
        " · native" if result.native else ""
    )


_CAPTION = (
    'MACs: the whole model\'s when the probe passes, else those up to the break ("-": none); '
    "Keras's own error message: --format json"
)


def survey_table(
    result: Survey, *, show_timing: bool = True, reasons: bool = True, layout: Layout | None = None
) -> Table:
    """One row per model: boundary, verdict, first channel change, the break, params, MACs, time.

    ``layout``: the full table (default), or one fitted to a terminal's width.
    """
    full = _full_table(result, show_timing=show_timing, reasons=reasons)
    if layout is None or layout.width is None:
        return full
    return _fitted_table(result, full, layout.width, show_timing=show_timing, reasons=reasons)[0]


def _full_table(result: Survey, *, show_timing: bool, reasons: bool) -> Table:
    table = Table(
        title=_title(result),
        title_justify="left",
        header_style="bold",
        caption=_CAPTION,
        caption_justify="left",
    )
    table.add_column("model", no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True)
    if result.grid:
        table.add_column("channels", justify="right", no_wrap=True)
    table.add_column("input", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    table.add_column("first channel change", no_wrap=True)
    table.add_column("breaks at", no_wrap=True)
    if reasons:
        table.add_column("expected → received", no_wrap=True)
    table.add_column("params", justify="right", no_wrap=True)
    table.add_column("MACs", justify="right", no_wrap=True)
    if show_timing:
        table.add_column("trace s", justify="right", no_wrap=True)
    for row in result.rows:
        cells: list[str | Text] = [
            row.model,
            f"{row.size[0]}x{row.size[1]}",
            *([str(row.channels)] if result.grid else []),
            _input_cell(row),
            _verdict_cell(row),
            _first_change(row),
            _break(row),
        ]
        if reasons:
            cells.append(f"{row.break_expected} → {row.break_received}" if row.break_layer else "")
        cells += [format_count(row.params), _macs(row)]
        if show_timing:
            cells.append(f"{row.trace_seconds:.2f}")
        table.add_row(*cells)
    return table


def _input_cell(row: SurveyRow) -> Text:
    return Text("accepted", style="green") if row.boundary_accepted else Text("rejected", style="bold red")


def _verdict_cell(row: SurveyRow) -> Text:
    return Text("traces", style="bold green") if row.verdict == "ok" else Text("breaks", style="bold red")


def _what_happens(row: SurveyRow, reasons: bool) -> str:
    """The first change and the break in one wrapping cell (shapes without spaces)."""
    parts = []
    if row.first_change_layer is not None:
        parts.append(_first_change(row))
    if row.break_layer is not None:
        text = f"breaks at {_break(row)}"
        if reasons:
            text += f": expected {row.break_expected}, received {row.break_received}"
        parts.append(text)
    return compact_shape_text("; ".join(parts) or "-")


# The fitted form's columns: (name, header, justify); the first three are always there.
_FITTED: tuple[tuple[str, str, JustifyMethod], ...] = (
    ("model", "model", "left"),
    ("size", "size", "right"),
    ("channels", "channels", "right"),
    ("input", "input", "left"),
    ("verdict", "verdict", "left"),
    ("what", "first channel change · break", "left"),
    ("params", "params", "right"),
    ("macs", "MACs", "right"),
    ("seconds", "trace s", "right"),
)
_FITTED_REQUIRED = {"model", "verdict", "what"}
_FITTED_PRIORITY = ("channels", "params", "macs", "input", "size", "seconds")


def _fitted_table(
    result: Survey, full: Table, width: int, *, show_timing: bool, reasons: bool
) -> tuple[Table, Fit | None]:
    """The full table when it fits the window; else the change and the break share one
    wrapping column and the others join by priority."""
    if _natural_width(full) <= width:
        return full, None
    columns = [
        c for c in _FITTED if (show_timing or c[0] != "seconds") and (result.grid or c[0] != "channels")
    ]
    rows: list[dict[str, str | Text]] = []
    for row in result.rows:
        cells: dict[str, str | Text] = {
            "model": row.model,
            "size": f"{row.size[0]}x{row.size[1]}",
            "channels": str(row.channels),
            "input": _input_cell(row),
            "verdict": _verdict_cell(row),
            "what": _what_happens(row, reasons),
            "params": format_count(row.params),
            "macs": _macs(row),
            "seconds": f"{row.trace_seconds:.2f}",
        }
        rows.append(cells)
    specs = [
        spec_of(
            name,
            [cell.plain if isinstance(cell, Text) else cell for cell in (c[name] for c in rows)],
            header=header,
            wraps=name == "what",
            required=name in _FITTED_REQUIRED,
            folds=name == "model",
        )
        for name, header, _ in columns
    ]
    fit = choose_columns(specs, width, _FITTED_PRIORITY, edge=False)
    table = Table(
        title=_title(result),
        title_justify="left",
        header_style="bold",
        caption=_CAPTION,
        caption_justify="left",
        show_edge=False,
        pad_edge=False,
    )
    for name, header, justify in columns:
        if name in fit.shown:
            table.add_column(header, justify=justify, width=fit.width_of(name), overflow="fold")
    for cells in rows:
        table.add_row(*[cells[name] for name, _, _ in columns if name in fit.shown])
    return table, fit


def survey_report(
    result: Survey, *, show_timing: bool = True, reasons: bool = True, layout: Layout | None = None
) -> Group:
    """The table and a one-line summary beneath it (``layout``: see :func:`survey_table`)."""
    passed = result.passed
    names = ", ".join(r.model for r in passed) or "none"
    if result.grid:
        summary = Text(f"{len(passed)} of {len(result.rows)} model × probe rows pass as-is", style="bold")
        for count in result.channel_counts or (result.channels,):
            for size in result.sizes or (result.size,):
                probe_rows = [r for r in result.rows if r.channels == count and _size_of(r, size)]
                ok = [r.model for r in probe_rows if r.verdict == "ok"]
                summary.append(f"\n  {count}-channel probe at {size}: {len(ok)} of {len(probe_rows)}: ")
                summary.append(", ".join(ok) or "none", style="green" if ok else "red")
    else:
        summary = Text(
            f"{len(passed)} of {len(result.rows)} models take a {result.channels}-channel probe as-is: ",
            style="bold",
        )
        summary.append(names, style="green" if passed else "red")
    table, fit = _full_table(result, show_timing=show_timing, reasons=reasons), None
    if layout is not None and layout.width is not None:
        table, fit = _fitted_table(result, table, layout.width, show_timing=show_timing, reasons=reasons)
    parts: list[RenderableType] = [table]
    note = left_out_note(fit, columns_option=False, titles={name: header for name, header, _ in _FITTED})
    if note is not None:
        parts.append(note)
    parts += [Text(), summary]
    if show_timing:
        parts.append(Text(f"surveyed in {result.seconds:.1f} s{_backend_note(result)}", style="dim"))
    return Group(*parts)


def _size_of(row: SurveyRow, size: str) -> bool:
    """Whether ``row`` was traced at the grid's ``size`` (a word means each model's own)."""
    if size in ("default", "min"):
        from shapetrace.models.applications import APPLICATIONS

        app = APPLICATIONS[row.key]
        side = app.default_size if size == "default" else app.min_size
        return row.size == (side, side)
    h, _, w = size.partition("x")
    return row.size == (int(h), int(w or h))


def _backend_note(result: Survey) -> str:
    from shapetrace.backends import BACKEND_TITLES

    backend, keras = result.versions.get("backend"), result.versions.get("keras")
    if not backend:
        return ""
    return f" ({'Keras ' + keras + ' ' if keras else ''}on {BACKEND_TITLES.get(backend, backend)})"


def survey_csv(result: Survey) -> str:
    """One CSV line per model, with a header: exact numbers, empty cells for none."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in result.rows:
        data = row.to_dict()
        data["size"] = f"{row.size[0]}x{row.size[1]}"
        data["trace_seconds"] = f"{row.trace_seconds:.3f}"
        data["build_seconds"] = f"{row.build_seconds:.3f}"
        writer.writerow({k: "" if data[k] is None else data[k] for k in CSV_FIELDS})
    return buffer.getvalue()
