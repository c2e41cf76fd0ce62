"""The survey as a table (one row per model) and as CSV. Returns text or renderables; never prints."""

from __future__ import annotations

import csv
import io
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from shapetrace.explore.survey import Survey, SurveyRow
from shapetrace.options import Layout
from shapetrace.render.columns import Column, build_table, fit_columns, left_out_note, rows_of
from shapetrace.render.fit import Fit, compact_shape_text
from shapetrace.render.text import needed_width, offscreen_console
from shapetrace.tracing.costs import format_count

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
    return _survey_table(result, show_timing=show_timing, reasons=reasons, layout=layout)[0]


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


def _columns(result: Survey, *, show_timing: bool, reasons: bool, fitted: bool) -> list[Column[SurveyRow]]:
    """The full table's columns, or the fitted form's (``fitted``: the first change and the
    break share one wrapping column, and only model, verdict and that one always stay)."""
    columns: list[Column[SurveyRow]] = [
        Column("model", "model", lambda row: row.model, folds=True),
        Column("size", "size", lambda row: f"{row.size[0]}x{row.size[1]}", justify="right", optional=True),
        Column("channels", "channels", lambda row: str(row.channels), justify="right", optional=True),
        Column("input", "input", _input_cell, optional=True),
        Column("verdict", "verdict", _verdict_cell),
    ]
    if fitted:
        columns.append(
            Column(
                "what", "first channel change · break", lambda row: _what_happens(row, reasons), wraps=True
            )
        )
    else:
        columns += [
            Column("first", "first channel change", _first_change),
            Column("break", "breaks at", _break),
            Column("reasons", "expected → received", _reasons_cell),
        ]
    columns += [
        Column("params", "params", lambda row: format_count(row.params), justify="right", optional=True),
        Column("macs", "MACs", _macs, justify="right", optional=True),
        Column("seconds", "trace s", lambda row: f"{row.trace_seconds:.2f}", justify="right", optional=True),
    ]
    left_out = {"seconds": not show_timing, "channels": not result.grid, "reasons": not reasons}
    return [column for column in columns if not left_out.get(column.name)]


def _reasons_cell(row: SurveyRow) -> str:
    return f"{row.break_expected} → {row.break_received}" if row.break_layer else ""


_FITTED_PRIORITY = ("channels", "params", "macs", "input", "size", "seconds")


def _table_options(result: Survey) -> dict[str, Any]:
    return dict(
        title=_title(result),
        title_justify="left",
        header_style="bold",
        caption=_CAPTION,
        caption_justify="left",
    )


def _survey_table(
    result: Survey, *, show_timing: bool, reasons: bool, layout: Layout | None
) -> tuple[Table, Fit | None]:
    """The full table when it fits the window (or there is none); else the change and the
    break share one wrapping column and the others join by priority."""
    columns = _columns(result, show_timing=show_timing, reasons=reasons, fitted=False)
    full = build_table(columns, rows_of(columns, result.rows), **_table_options(result))
    if layout is None or layout.width is None or needed_width(offscreen_console(), full) <= layout.width:
        return full, None
    columns = _columns(result, show_timing=show_timing, reasons=reasons, fitted=True)
    rows = rows_of(columns, result.rows)
    fit = fit_columns(columns, rows, layout.width, _FITTED_PRIORITY, edge=False)
    return build_table(columns, rows, fit, **_table_options(result)), fit


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
    table, fit = _survey_table(result, show_timing=show_timing, reasons=reasons, layout=layout)
    parts: list[RenderableType] = [table]
    fitted = _columns(result, show_timing=show_timing, reasons=reasons, fitted=True)
    note = left_out_note(fit, columns_option=False, titles={column.name: column.header for column in fitted})
    if note is not None:
        parts.append(note)
    parts += [Text(), summary]
    if show_timing:
        parts.append(Text(f"surveyed in {result.seconds:.1f} s{_backend_note(result)}", style="dim"))
    return Group(*parts)


def _size_of(row: SurveyRow, size: str) -> bool:
    """Whether ``row`` was traced at the grid's ``size`` (a word means each model's own)."""
    if size in ("default", "min"):
        from shapetrace.models.catalog import APPLICATIONS

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
