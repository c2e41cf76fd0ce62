"""Results in Jupyter: ``_repr_html_`` shows the terminal's table with its highlights, a long
trace opens on its changes with every row one click away, and ``__rich__`` is the CLI's
renderable. Records import no rendering until a notebook asks."""

from __future__ import annotations

import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import run_fresh
from rich.console import Group
from toy_models import toy_model

from shapetrace import trace, trace_model
from shapetrace.baselines.check import CheckResult
from shapetrace.baselines.diff import FieldChange, LayerDiff, ShapeDiff
from shapetrace.explore.compare import compare_traces
from shapetrace.render.notebook import LONG_TRACE

BOLD_YELLOW = re.compile(
    r'<span style="color: #808000; text-decoration-color: #808000; font-weight: bold">([^<]*)</span>'
)


class _Text(HTMLParser):
    """The visible text of an HTML fragment, split into what is inside and outside ``<details>``."""

    def __init__(self) -> None:
        super().__init__()
        self.outside: list[str] = []
        self.inside: list[str] = []
        self.depth = 0
        self.summary: list[str] = []
        self._in_summary = False

    def handle_starttag(self, tag, attrs):
        self.depth += tag == "details"
        self._in_summary |= tag == "summary"

    def handle_endtag(self, tag):
        self.depth -= tag == "details"
        self._in_summary &= tag != "summary"

    def handle_data(self, data):
        (self.summary if self._in_summary else self.inside if self.depth else self.outside).append(data)


def visible(fragment: str) -> _Text:
    parser = _Text()
    parser.feed(fragment)
    return parser


@pytest.fixture(scope="module")
def toy_trace():
    # Timing and versions fixed: the HTML is compared with a golden file.
    return replace(trace_model(toy_model()), seconds=0.25, versions={"keras": "3.x", "backend": "tensorflow"})


def test_trace_html_is_the_terminal_table_with_its_highlights(toy_trace, golden):
    fragment = toy_trace._repr_html_()
    text = "".join(visible(fragment).outside)
    for row in toy_trace.layers:  # every row, with its real output shape
        assert re.search(
            rf"\b{re.escape(row.path)}\b.*{re.escape(str(row.output).replace(' ', ''))}",
            text.replace(" ", ""),
        ), row.path
    # The row where the channels change is highlighted (bold yellow), as on the terminal.
    changed = {row.path for row in toy_trace.changes}
    assert changed and changed <= {cell.strip() for cell in BOLD_YELLOW.findall(fragment)}
    assert "on TensorFlow" in text and "<details>" not in fragment  # short: nothing folded
    golden("toy_trace.html", fragment)


def test_long_trace_opens_on_its_changes_with_every_row_in_details():
    result = trace("efficientnetb0", channels=1, size=(32, 32))
    assert len(result.layers) > LONG_TRACE
    parts = visible(result._repr_html_())
    shown, folded = "".join(parts.outside), "".join(parts.inside)
    # The changes first (as --changes-only shows them), the other rows left out…
    assert all(f" {row.path} " in shown for row in result.changes) and "⋮" in shown
    assert sum(f" {row.path} " in shown for row in result.layers) < len(result.layers) / 2
    assert all(f" {row.path} " in folded for row in result.layers)  # …and one click away
    assert f"All {len(result.layers):,} rows" in "".join(parts.summary)


def test_rich_display_is_the_cli_report(toy_trace):
    assert isinstance(toy_trace.__rich__(), Group)


def test_comparison_and_diff_display_themselves(toy_trace):
    gray = replace(trace_model(toy_model(), channels=1), seconds=0.25)
    comparison = compare_traces(toy_trace, gray)
    assert "toy/image" in "".join(visible(comparison._repr_html_()).outside)
    diff = ShapeDiff(
        model="toy",
        layers_total=5,
        layers=(
            LayerDiff(
                path="toy/conv",
                type="Conv2D",
                status="changed",
                changes=(FieldChange("output", [1, 8, 8, 16], [1, 8, 8, 32]),),
            ),
        ),
    )
    text = "".join(visible(diff._repr_html_()).outside)
    assert "toy/conv" in text and "(1, 8, 8, 32)" in text.replace("(1,8,8,32)", "(1, 8, 8, 32)")
    result = CheckResult(
        baseline=Path("shapes/toy.json"),
        status="differs",
        diff=diff,
        accept_command="shapetrace check shapes/toy.json --update",
    )
    text = "".join(visible(result._repr_html_()).outside)
    assert "✗ shapes/toy.json" in text and "toy/conv" in text and "--update" in text


def test_records_import_no_rendering():
    code = (
        "import sys, shapetrace, shapetrace.records, shapetrace.explore.survey, shapetrace.baselines.check, shapetrace.explore.compare\n"
        "print(sorted(m for m in ('rich', 'shapetrace.render.notebook', 'keras') if m in sys.modules))"
    )
    done = run_fresh([code], module=False)
    assert done.code == 0 and done.out.strip() == "[]", done.err


def test_plain_text_in_a_notebook_is_one_line(toy_trace):
    pretty = pytest.importorskip("IPython.lib.pretty", reason="IPython is not installed").pretty
    line = pretty(toy_trace)
    assert line == (
        f"<Trace toy: ok, {len(toy_trace.layers)} layer calls, {len(toy_trace.changes)} channel changes, "
        "probe (1, 8, 8, 3)>"
    )
    assert "LayerTrace(" in repr(toy_trace)  # the dataclass repr itself is left alone
