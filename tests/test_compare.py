"""`--compare N`: two probes aligned, and where their shapes become the same from then on."""

from __future__ import annotations

import json

import pytest
from conftest import render_plain

from shapetrace.explore.compare import compare_channels, compare_traces


@pytest.fixture(scope="module")
def efficientnet():
    return compare_channels("efficientnetb0", channels=1, other=3, size=(32, 32))


def test_shapes_meet_at_normalization(efficientnet):
    row = efficientnet.converged_row
    assert row is not None and row.name == "normalization"
    assert efficientnet.converged_at == 2
    # Before it they differ, from it on every row is the same for both probes.
    assert not any(r.same for r in efficientnet.rows[:2])
    assert all(r.same for r in efficientnet.rows[2:])
    assert efficientnet.headline.startswith(
        "From `normalization` on, a 1-channel probe and a 3-channel probe have the same shapes."
    )
    assert "1 channel becomes 3" in efficientnet.headline


def test_a_break_means_they_never_meet():
    result = compare_channels("resnet50", channels=1, other=3, size=(32, 32))
    assert result.converged_at is None
    assert "The 1-channel probe breaks at `resnet50/conv1_conv`" in result.headline
    assert result.rows[-1].first is None and result.rows[-1].second is not None


def test_alignment_is_by_layer_not_position(efficientnet):
    swapped = compare_traces(efficientnet.second, efficientnet.first)
    assert swapped.converged_at == efficientnet.converged_at
    assert [r.path for r in swapped.rows] == [r.path for r in efficientnet.rows]


def test_cli_table_and_json_answer(efficientnet, cli):
    code, out, err = cli("efficientnetb0", "-c", "1", "-s", "32", "--compare", "3")
    assert code == 0, err
    assert "same from here on" in out and "From `normalization` on" in out
    assert "more layer calls, same shapes" in out
    code, out, _ = cli("efficientnetb0", "-c", "1", "-s", "32", "--compare", "3", "-f", "json")
    data = json.loads(out)
    assert data["schema"] == "shapetrace.compare/1" and data["channels"] == [1, 3]
    assert data["converged_at"]["name"] == "normalization"
    assert [t["probe"]["channels"] for t in data["traces"]] == [1, 3]


def test_golden_compare_table(efficientnet, golden):
    from shapetrace.render.compare import compare_report

    golden("compare_efficientnetb0.txt", render_plain(compare_report(efficientnet), width=120))


def test_compare_equal_to_channels_is_refused(cli, tmp_path):
    plot = tmp_path / "x.png"
    code, out, err = cli("resnet50", "-c", "3", "--compare", "3", "--plot", str(plot))
    assert code == 2 and out == ""
    assert "--compare 3 equals the probe's channel count (3)" in err
    assert len(err.strip().splitlines()) == 1 and not plot.exists()
    code, _, err = cli("resnet50", "--compare", "3")  # default probe is 3 channels too
    assert code == 2 and "equals" in err
