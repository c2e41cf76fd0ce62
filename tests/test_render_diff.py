"""A baseline check rendered: the status line, baseline → now per layer, capped rows, the next step."""

from __future__ import annotations

from pathlib import Path

from conftest import render_plain
from toy_models import EIGHT, conv_rows, hand_trace

from shapetrace.baselines.check import CheckResult
from shapetrace.baselines.diff import diff_traces
from shapetrace.render.diff import FIELD_TITLES, check_report, diff_table


def _diff(count: int = 3):
    """``count`` convs; now the first outputs 9×9 and a dense layer was added after it."""
    convs = conv_rows(*(f"conv_{chr(97 + i)}" for i in range(count)))
    before = hand_trace(convs)
    after = hand_trace([convs[0], ("m/dense", "Dense", EIGHT, (1, 4)), *convs[1:]], output=(1, 9, 9, 8))
    return diff_traces(before, after)


def test_each_change_is_a_row_baseline_then_now():
    text = render_plain(diff_table(_diff()))
    changed = next(line for line in text.splitlines() if "m/conv_a (Conv2D)" in line)
    assert FIELD_TITLES["output"] in changed and changed.index("(1, 4, 4, 8)") < changed.index("(1, 9, 9, 8)")
    added = next(line for line in text.splitlines() if "m/dense (Dense)" in line)
    assert FIELD_TITLES["added"] in added and "(1, 4)" in added


def test_rows_are_capped():
    diff = _diff()
    assert len(render_plain(diff_table(diff, max_rows=1)).splitlines()) < len(
        render_plain(diff_table(diff)).splitlines()
    )
    assert "m/dense" not in render_plain(diff_table(diff, max_rows=1))


def test_the_report_says_what_differs_and_how_to_accept_it():
    diff = _diff()
    result = CheckResult(
        Path("shapes/m.json"), "differs", diff, Path("shapes/m.obtained.json"), "shapetrace check --update x"
    )
    text = render_plain(check_report(result))
    assert text.startswith(f"✗ shapes/m.json: m: {diff.summary}")
    assert "m/conv_a (Conv2D)" in text and "shapetrace check --update x" in text
    same = hand_trace(conv_rows("conv"))
    matched = CheckResult(Path("shapes/m.json"), "match", diff_traces(same, same))
    text = render_plain(check_report(matched))
    assert text.startswith("✓ shapes/m.json: m matches (1 layer") and len(text.splitlines()) == 1
