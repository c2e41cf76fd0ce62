"""On a terminal nothing is wider than the window, and no shape is ever split or cut.

Rendered the way the CLI renders for a terminal (rich with ``force_terminal`` at a set
width), at 80, 100, 120 and 200 columns, for the story's two halves: EfficientNetB0 takes
a 1-channel probe (the normalization broadcast), ResNet50 breaks at its first conv. The
arithmetic that chooses the columns is tested on its own in test_render_fit.
"""

from __future__ import annotations

import re

import pytest
from conftest import assert_fits, render_plain, render_terminal

import shapetrace
from shapetrace.options import Layout
from shapetrace.render.fit import compact_shape_text
from shapetrace.render.table import trace_report
from shapetrace.tracing.selection import View

WIDTHS = (80, 100, 120, 200)


def shape_forms(shape) -> tuple[str, str]:
    full = shapetrace.records.format_shape(shape)
    return full, compact_shape_text(full)


# --------------------------------------------------------------------------- the story, at every width


@pytest.fixture(scope="module")
def story():
    """EfficientNetB0 takes a 1-channel probe; ResNet50 breaks on it."""
    from shapetrace.tracing._keras_graph import keras

    keras.backend.clear_session()
    efficientnet = shapetrace.trace("efficientnetb0", channels=1, size=(64, 64))
    resnet = shapetrace.trace("resnet50", channels=1, size=(64, 64))
    return efficientnet, resnet


@pytest.mark.parametrize("width", WIDTHS)
def test_efficientnet_changes_fit_every_window(story, width):
    efficientnet, _ = story
    text = render_terminal(trace_report(efficientnet, changes_only=True, layout=Layout(width=width)), width)
    assert_fits(text, width)
    # The story's row: the normalization turns 1 channel into 3, and says why.
    row = next(line for line in text.splitlines() if " normalization " in line)
    assert re.search(r"1 ?→ ?3", row) and "(1,64,64,3)" in row.replace(", ", ",")
    assert "broadcasts" in text and "(1,1,1,3)" in text.replace(", ", ",")
    # Paths are relative to the model, which the title names.
    assert text.startswith("efficientnetb0 · probe") and "efficientnetb0/block" not in text
    for layer in View(changes_only=True).rows(efficientnet):
        assert any(form in text for form in shape_forms(layer.output)), layer.path
    assert "Verdict: ok." in text


@pytest.mark.parametrize("width", WIDTHS)
def test_resnet_break_row_fits_every_window(story, width):
    _, resnet = story
    text = render_terminal(trace_report(resnet, layout=Layout(width=width)), width)
    assert_fits(text, width)
    row = next(line for line in text.splitlines() if " conv1_conv " in line)
    # One shape style per screen: the whole form keeps Keras's spaces, the compact one drops them all.
    spaced, compact = shape_forms((None, 70, 70, 3))
    form = spaced if "(1, 64, 64, 1)" in text or "(None, 64, 64, 3)" in text else compact
    assert "✗ breaks" in row and f"expected {form}," in row  # the why may wrap after this
    assert "received" in text and shape_forms((1, 70, 70, 1))[form == compact] in text
    assert "Hint: Try --channels 3" in text
    other = spaced if form == compact else compact
    assert other not in text, f"two shape styles in one window:\n{text}"


def test_narrow_windows_say_which_columns_were_left_out(story):
    efficientnet, _ = story
    text = render_terminal(trace_report(efficientnet, changes_only=True, layout=Layout(width=80)), 80)
    note = re.sub(r"\s+", " ", text[text.index("Left out") :])
    assert "Left out to fit 80 columns: type, declared, params, macs." in note
    assert "--wide shows every column" in note and "--columns" in note
    wide = render_terminal(trace_report(efficientnet, changes_only=True, layout=Layout(width=200)), 200)
    assert "Left out" not in wide and "MACs" in wide and "declared" in wide


def test_unbounded_layout_is_the_piped_table(story):
    """``Layout()`` (piped, --wide) renders exactly what the renderers always rendered."""
    efficientnet, resnet = story
    for trace in (efficientnet, resnet):
        assert render_plain(trace_report(trace, show_timing=False, layout=Layout())) == render_plain(
            trace_report(trace, show_timing=False)
        )


def test_terminal_goldens(story, golden):
    efficientnet, resnet = story
    for width in (80, 120):
        golden(
            f"efficientnetb0_changes_{width}cols.txt",
            render_terminal(
                trace_report(efficientnet, changes_only=True, show_timing=False, layout=Layout(width=width)),
                width,
            ),
        )
        golden(
            f"resnet50_gray_break_{width}cols.txt",
            render_terminal(trace_report(resnet, show_timing=False, layout=Layout(width=width)), width),
        )


# --------------------------------------------------------------------------- the other tables


@pytest.fixture(scope="module")
def rgb():
    """EfficientNetB0 with the 3-channel probe it was declared for."""
    return shapetrace.trace("efficientnetb0", channels=3, size=(64, 64))


@pytest.fixture(scope="module")
def comparison(story, rgb):
    """1 channel vs 3 through EfficientNetB0: where the two probes' shapes meet."""
    from shapetrace.explore.compare import compare_traces

    return compare_traces(story[0], rgb)


@pytest.mark.parametrize("width", WIDTHS)
def test_compare_fits_every_window(comparison, width):
    from shapetrace.render.compare import compare_report

    text = render_terminal(compare_report(comparison, layout=Layout(width=width)), width)
    assert_fits(text, width)
    row = next(line for line in text.splitlines() if " normalization " in line)
    assert "same from here on" in row and any(form in row for form in shape_forms((1, 64, 64, 3)))
    assert "(1,1,1,3)" in text  # the answer's shapes wrap whole


@pytest.mark.parametrize("width", WIDTHS)
def test_survey_fits_every_window(story, rgb, width):
    from shapetrace.explore.survey import Survey, survey_row
    from shapetrace.models.catalog import resolve_application
    from shapetrace.render.survey import survey_report

    efficientnet, resnet = story
    rows = tuple(survey_row(resolve_application(t.model), t, (64, 64), 1.0) for t in (efficientnet, resnet))
    result = Survey(channels=1, size="64x64", native=False, rows=rows, seconds=2.0)
    text = render_terminal(survey_report(result, layout=Layout(width=width)), width)
    assert_fits(text, width)
    flat = re.sub(r"[\s│]+", " ", text)
    assert "EfficientNetB0" in text and "1 → 3 at normalization (broadcast)" in flat
    resnet_row = next(line for line in text.splitlines() if line.startswith(("ResNet50", "│ ResNet50")))
    assert "breaks" in resnet_row and "conv1_conv" in resnet_row
    assert "(None,70,70,3)" in text.replace(", ", ",") and "(1,70,70,1)" in text.replace(", ", ",")
    if width < 200:
        assert "Left out" in text or "params" in text


@pytest.mark.parametrize("width", WIDTHS)
def test_check_diff_fits_every_window(story, rgb, width, tmp_path):
    """A baseline taken with the 3 channels the model declares, checked against a 1-channel run."""
    from shapetrace.baselines.check import CheckResult
    from shapetrace.baselines.diff import diff_traces
    from shapetrace.render.diff import check_report

    path = tmp_path / "efficientnetb0.json"
    diff = diff_traces(rgb, story[0])
    result = CheckResult(
        path,
        "differs",
        diff,
        obtained=tmp_path / "efficientnetb0.obtained.json",
        accept_command=f"shapetrace check {path} --update",
    )
    text = render_terminal(check_report(result, layout=Layout(width=width)), width)
    assert_fits(text, width)
    assert re.search(r"^(efficientnetb0/)?rescaling .*│ actual shape", text, re.M)
    assert "(1,64,64,3)" in text.replace(", ", ",") and "(1,64,64,1)" in text.replace(", ", ",")
