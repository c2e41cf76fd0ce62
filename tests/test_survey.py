"""`shapetrace survey`: every model's answer, equal to tracing each one alone."""

from __future__ import annotations

import csv
import io
import json

import pytest

from shapetrace.errors import UsageError
from shapetrace.explore.survey import select_applications, survey, survey_row

SUBSET = "^(efficientnetb0|mobilenetv2|resnet50|convnexttiny|mobilenetv3small)$"


@pytest.fixture(scope="module")
def subset():
    return survey(channels=1, size="min", models=SUBSET)


def test_subset_answers_equal_tracing_each_model_alone(subset):
    import shapetrace
    from shapetrace.models.catalog import APPLICATIONS

    assert [r.key for r in subset.rows] == [
        "convnexttiny",
        "efficientnetb0",
        "mobilenetv2",
        "mobilenetv3small",
        "resnet50",
    ]
    for row in subset.rows:
        alone = shapetrace.trace(row.key, channels=1, size=row.size)
        expected = survey_row(APPLICATIONS[row.key], alone, row.size, build_seconds=0.0)

        # Everything but the timings must be identical, layer names included (fresh naming).
        def strip(r):
            return {k: v for k, v in r.to_dict().items() if not k.endswith("seconds")}

        assert strip(row) == strip(expected), row.model


def test_subset_tells_which_models_take_one_channel(subset):
    by_key = {r.key: r for r in subset.rows}
    assert by_key["efficientnetb0"].verdict == "ok"
    assert by_key["efficientnetb0"].first_change_layer == "normalization"
    assert by_key["efficientnetb0"].first_change_mechanism == "broadcast"
    assert by_key["efficientnetb0"].macs_complete and by_key["efficientnetb0"].macs > 0
    assert by_key["resnet50"].verdict == "broken"
    assert by_key["resnet50"].break_layer.endswith("conv1_conv")
    assert "expected axis -1" in by_key["resnet50"].break_reason
    assert by_key["resnet50"].params == 23_587_712
    assert subset.to_dict()["passed"] == len(subset.passed)


def test_model_regex_selects_case_insensitively():
    assert [a.name for a in select_applications("VGG")] == ["VGG16", "VGG19"]
    with pytest.raises(UsageError, match="matches none"):
        select_applications("nosuchnet")


@pytest.mark.parametrize("pattern, words", [("", "Empty --models"), ("effic(", "Invalid --models")])
def test_bad_model_regex_is_one_line_exit_2(pattern, words, cli):
    code, out, err = cli("survey", "--models", pattern)
    assert code == 2 and out == ""
    assert words in err and len(err.strip().splitlines()) == 1


def test_size_below_a_models_minimum_is_refused_up_front(cli):
    code, out, err = cli("survey", "--models", "inception", "--size", "64")
    assert code == 2 and "below the minimum" in err and "InceptionV3 (75)" in err


def test_csv_and_json_formats(cli):
    code, out, err = cli("survey", "-c", "1", "--size", "min", "--models", "^vgg16$", "--format", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 1 and rows[0]["model"] == "VGG16" and rows[0]["verdict"] == "broken"
    assert rows[0]["break_layer"] == "vgg16/block1_conv1" and rows[0]["params"] == "14714688"
    code, out, _ = cli("survey", "-c", "3", "--size", "32", "--models", "^vgg16$", "--format", "json")
    data = json.loads(out)
    assert data["schema"] == "shapetrace.survey/1" and data["rows"][0]["verdict"] == "ok"
    assert data["rows"][0]["macs_complete"] and data["rows"][0]["macs"] > 0


def test_table_names_each_model_and_the_summary(cli):
    code, out, err = cli("survey", "-c", "1", "--size", "min", "--models", "^(vgg16|efficientnetb0)$")
    assert code == 0, err
    assert "EfficientNetB0" in out and "VGG16" in out and "block1_conv1" in out
    assert "1 of 2 models take a 1-channel probe as-is: EfficientNetB0" in out


@pytest.mark.slow  # the five-model subset above runs the same code in the default run
def test_full_survey_of_all_40_models_at_minimum_size():
    """The slowest test: every application, each at its minimum size, with a 1-channel probe."""
    result = survey(channels=1, size="min")
    assert len(result.rows) == 40
    passed = {r.key for r in result.passed}
    # Models whose preprocessing broadcasts 1 channel to 3 take the probe; plain conv stems do not.
    assert {
        "efficientnetb0",
        "efficientnetb7",
        "convnexttiny",
        "convnextxlarge",
        "efficientnetv2b0",
    } <= passed
    # EfficientNetV2-S/M/L only rescale (no Normalization layer), so their stem meets 1 channel.
    assert not passed & {
        "resnet50",
        "vgg16",
        "mobilenetv2",
        "densenet121",
        "inceptionv3",
        "xception",
        "efficientnetv2s",
        "nasnetlarge",
    }
    for row in result.rows:
        assert row.verdict in ("ok", "broken")
        assert (row.break_layer is None) == (row.verdict == "ok" and row.boundary_accepted)
        assert row.params > 0


# --------------------------------------------------------------------------- a grid, and --jobs

GRID_MODELS = "^(vgg16|mobilenet|mobilenetv3small)$"


def _without_timings(row) -> dict:
    return {
        k: v
        for k, v in (row if isinstance(row, dict) else row.to_dict()).items()
        if not k.endswith("seconds")
    }


@pytest.fixture(scope="module")
def grid():
    return survey(channels="1,3", size="32x32,48x48", models=GRID_MODELS)


def test_a_grid_has_one_row_per_model_and_probe_equal_to_single_traces(grid):
    import shapetrace
    from shapetrace.models.catalog import APPLICATIONS

    assert len(grid.rows) == 12 and grid.grid
    assert [(r.key, r.size, r.channels) for r in grid.rows[:4]] == [
        ("mobilenet", (32, 32), 1),
        ("mobilenet", (32, 32), 3),
        ("mobilenet", (48, 48), 1),
        ("mobilenet", (48, 48), 3),
    ]
    for row in grid.rows:
        alone = shapetrace.trace(row.key, channels=row.channels, size=row.size)
        expected = survey_row(APPLICATIONS[row.key], alone, row.size, build_seconds=0.0)
        assert _without_timings(row) == _without_timings(expected), (row.model, row.size, row.channels)
    # Each model built once per size: the build time is on its first probe only.
    assert [r.build_seconds > 0 for r in grid.rows[:2]] == [True, False]
    data = grid.to_dict()
    assert data["grid"] == {"channels": [1, 3], "sizes": ["32x32", "48x48"]} and data["models"] == 3


def test_a_grid_renders_as_one_table_and_csv(grid):
    from conftest import render_plain

    from shapetrace.render.survey import survey_csv, survey_report

    text = render_plain(survey_report(grid), width=200)
    assert "with probes of 1, 3 channels · sizes 32x32, 48x48" in text
    assert sum(1 for line in text.splitlines() if line.lstrip("│ ").startswith(("MobileNet", "VGG16"))) == 12
    assert "1-channel probe at 32x32: 0 of 3" in text and "3-channel probe at 48x48: 3 of 3" in text
    rows = list(csv.DictReader(io.StringIO(survey_csv(grid))))
    assert len(rows) == 12 and {r["channels"] for r in rows} == {"1", "3"}


def test_survey_jobs_2_equals_the_serial_survey(grid, cli):
    code, out, err = cli(
        "survey",
        "-c",
        "1,3",
        "--size",
        "32x32,48x48",
        "--models",
        GRID_MODELS,
        "--jobs",
        "2",
        "--format",
        "json",
    )
    assert code == 0, err
    data = json.loads(out)
    assert [_without_timings(r) for r in data["rows"]] == [
        _without_timings(r) for r in grid.to_dict()["rows"]
    ]


def test_grid_options_are_checked_up_front(cli):
    code, out, err = cli("survey", "-c", "1,x")
    assert code == 2 and "--channels 'x' is not a channel count" in err, err
    code, out, err = cli("survey", "--size", "64x64,wide")
    assert code == 2 and "Invalid --size 'wide'" in err, err
    code, out, err = cli("survey", "-c", "1,3", "--plot", "x.svg")
    assert code == 2 and "one probe per model" in err, err
