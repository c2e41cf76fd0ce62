"""Golden files for the rendered table and the JSON document (regenerate: pytest --shapetrace-update)."""

from __future__ import annotations

import pytest
from conftest import render_plain, stable_json
from toy_models import toy_model

import shapetrace
from shapetrace.render.table import trace_report
from shapetrace.tracing.report import trace_document


@pytest.fixture(scope="module")
def toy_trace():
    from shapetrace.tracing._keras_graph import keras

    keras.backend.clear_session()
    return shapetrace.trace_model(toy_model(), channels=1)


def test_toy_table_golden(toy_trace, golden):
    golden("toy_table.txt", render_plain(trace_report(toy_trace, show_timing=False)))


def test_toy_changes_only_golden(toy_trace, golden):
    golden(
        "toy_changes_only.txt", render_plain(trace_report(toy_trace, changes_only=True, show_timing=False))
    )


def test_toy_json_golden(toy_trace, golden):
    golden("toy.json", stable_json(trace_document(toy_trace)))


def test_resnet50_break_golden(golden):
    t = shapetrace.trace("resnet50", channels=1, size=(32, 32))
    golden("resnet50_gray_break.txt", render_plain(trace_report(t, show_timing=False)))


def test_rendered_rows_match_the_records(toy_trace):
    """Beyond text equality: every record's path and actual shape is in the table."""
    text = render_plain(trace_report(toy_trace, show_timing=False))
    for row in toy_trace.layers:
        assert row.path in text
        assert shapetrace.records.format_shape(row.output) in text


def test_narrow_terminal_wraps_prose_but_never_a_shape():
    """On a terminal narrower than the table, only the why column wraps, and shapes stay whole."""
    import re

    from rich.console import Console

    from shapetrace.render.table import trace_table
    from shapetrace.render.text import needed_width, render_text

    t = shapetrace.trace("resnet50", channels=1, size=(32, 32))
    table = trace_table(t)
    console = Console(width=80)
    narrow = needed_width(console, table, wrap=True)
    assert narrow < needed_width(console, table)  # the why column can give way
    text = render_text(table, width=narrow)
    assert max(len(line) for line in text.splitlines()) <= narrow
    why_lines = [line.split("│")[-2].strip() for line in text.splitlines() if line.startswith("│")]
    assert sum(1 for w in why_lines if w) > 1  # the break's explanation wrapped onto two lines
    for shape in re.findall(r"\([\dNone, ]+\)", "".join(why_lines)):
        assert shape.count("(") == shape.count(")") == 1
    assert "(None, 38, 38, 3)" in text and "(1, 38, 38, 1)" in text  # one style: the table's
