"""The survey as a table (one row per model) and as CSV. Returns text or renderables; never prints."""

from __future__ import annotations

import csv
import io

from rich.console import Group
from rich.table import Table
from rich.text import Text

from shapetrace.costs import format_count
from shapetrace.survey import Survey, SurveyRow

__all__ = ["survey_table", "survey_report", "survey_csv", "CSV_FIELDS"]

CSV_FIELDS = (
    "model", "key", "size", "channels", "boundary_accepted", "verdict", "layers",
    "first_change_layer", "first_change_in", "first_change_out", "first_change_mechanism",
    "break_layer", "break_type", "break_expected", "break_received", "break_reason", "params", "macs", "macs_complete",
    "trace_seconds", "build_seconds",
)


def _first_change(row: SurveyRow) -> str:
    if row.first_change_layer is None:
        return "-"
    return f"{row.first_change_in} → {row.first_change_out} at {row.first_change_layer} ({row.first_change_mechanism})"


def _break(row: SurveyRow) -> str:
    if row.break_layer is None:
        return ""
    return f"{row.break_layer.split('/')[-1]} ({row.break_type})"


def survey_table(result: Survey, *, show_timing: bool = True, reasons: bool = True) -> Table:
    """One row per model: boundary, verdict, first channel change, the break, params, MACs, time."""
    table = Table(
        title=f"keras.applications with a {result.channels}-channel probe · size {result.size}"
        + (" · native" if result.native else ""),
        title_justify="left",
        header_style="bold",
        caption="MACs: the whole model's when the probe passes, else those up to the break (\"-\": none); "
        "Keras's own error message: --format json",
        caption_justify="left",
    )
    table.add_column("model", no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True)
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
        ok = row.verdict == "ok"
        cells: list[object] = [
            row.model,
            f"{row.size[0]}x{row.size[1]}",
            Text("accepted", style="green") if row.boundary_accepted else Text("rejected", style="bold red"),
            Text("traces", style="bold green") if ok else Text("breaks", style="bold red"),
            _first_change(row),
            _break(row),
        ]
        if reasons:
            cells.append(f"{row.break_expected} → {row.break_received}" if row.break_layer else "")
        macs = format_count(row.macs) if row.macs_complete else (format_count(row.macs) + " so far" if row.macs else "-")
        cells += [format_count(row.params), macs]
        if show_timing:
            cells.append(f"{row.trace_seconds:.2f}")
        table.add_row(*cells)
    return table


def survey_report(result: Survey, *, show_timing: bool = True, reasons: bool = True) -> Group:
    """The table and a one-line summary beneath it."""
    passed = result.passed
    names = ", ".join(r.model for r in passed) or "none"
    summary = Text(f"{len(passed)} of {len(result.rows)} models take a {result.channels}-channel probe as-is: ",
                   style="bold")
    summary.append(names, style="green" if passed else "red")
    parts = [survey_table(result, show_timing=show_timing, reasons=reasons), Text(), summary]
    if show_timing:
        parts.append(Text(f"surveyed in {result.seconds:.1f} s", style="dim"))
    return Group(*parts)


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
