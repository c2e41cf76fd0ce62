"""Pictures and views: --plot, --svg/--html, --columns/--depth/--layers, and every bad input.

The views themselves (columns, depth, layer filters) are tested in test_selection.
"""

from __future__ import annotations

import json
import os

import pytest

from shapetrace.errors import UsageError


def test_plot_trace_writes_a_png(tmp_path, nested_trace):
    from PIL import Image

    from shapetrace.render.plot import plot_trace

    path = plot_trace(nested_trace, tmp_path / "trace.png")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > 800
    assert [p.name for p in tmp_path.iterdir()] == ["trace.png"]  # no temp file left behind


def test_plot_compare_and_survey_write_svg(tmp_path):
    from shapetrace.explore.compare import compare_channels
    from shapetrace.explore.survey import survey
    from shapetrace.render.plot import plot_compare, plot_survey

    comparison = compare_channels("efficientnetb0", channels=1, other=3, size=(32, 32))
    svg = plot_compare(comparison, tmp_path / "compare.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "same shapes from" in svg
    result = survey(channels=1, size="min", models="^(vgg16|efficientnetb0)$")
    svg = plot_survey(result.rows, tmp_path / "survey.svg", channels=1).read_text()
    assert "EfficientNetB0" in svg and "breaks at block1_conv1" in svg and "1 of 2" in svg


def test_svg_and_html_export_the_table_as_rendered(tmp_path, cli):
    svg, html = tmp_path / "t.svg", tmp_path / "t.html"
    code, out, err = cli(
        "efficientnetb0",
        "-c",
        "1",
        "-s",
        "32",
        "--layers",
        "normalization|stem_conv",
        "--svg",
        str(svg),
        "--html",
        str(html),
    )
    assert code == 0, err
    text_svg, text_html = svg.read_text(), html.read_text()
    assert "<svg" in text_svg and "normalization" in text_svg
    assert "efficientnetb0/stem_conv" in text_html and "Total MACs" in text_html
    assert "block1a" not in text_html  # the exported table is the filtered one


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--columns", "layer,bogus"], "Unknown column 'bogus'"),
        (["--layers", ""], "Empty --layers"),
        (["--layers", "conv("], "Invalid --layers regular expression"),
        (["--depth", "-1"], "Invalid --depth -1"),
        (["--plot", "{tmp}/missing/trace.png"], "does not exist"),
        (["--plot", "{tmp}/trace.jpg"], "expected a .png or .svg"),
        (["--svg", "{tmp}/ro/t.svg"], "is not writable"),
        (["--html", "{tmp}"], "is a directory"),
        (["--channels", "1", "--compare", "1"], "equals the probe's channel count"),
    ],
    ids=[
        "column",
        "empty-regex",
        "bad-regex",
        "depth",
        "missing-dir",
        "extension",
        "read-only",
        "directory",
        "compare",
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(extra, words, tmp_path, cli, monkeypatch):
    readonly = tmp_path / "ro"
    readonly.mkdir()
    os.chmod(readonly, 0o500)
    if os.geteuid() == 0:  # root writes anywhere: the folder is read-only as far as access() says
        real_access = os.access

        def access(path, mode, *args, **kwargs):
            if mode & os.W_OK and str(path).startswith(str(readonly)):
                return False
            return real_access(path, mode, *args, **kwargs)

        monkeypatch.setattr(os, "access", access)
    args = [a.replace("{tmp}", str(tmp_path)) for a in extra]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    try:
        code, out, err = cli(
            *["resnet50", "--size", "32", "--plot", str(tmp_path / "p.png"), *args]
            if "--plot" not in extra
            else ["resnet50", "--size", "32", *args]
        )
    finally:
        os.chmod(readonly, 0o700)
    assert code == 2, err
    assert out == "" and words in err and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing half-written


def test_unwritable_folder_is_refused(monkeypatch, tmp_path):
    # Root writes anywhere, so the permission answer is simulated: the check must ask os.access.
    from shapetrace.render.plot import validate_writable

    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(UsageError, match="is not writable"):
        validate_writable(tmp_path / "t.svg", "svg")


def test_json_honours_layers_and_columns(cli):
    code, out, err = cli(
        "efficientnetb0",
        "-c",
        "1",
        "-s",
        "32",
        "-f",
        "json",
        "--layers",
        "^efficientnetb0/stem",
        "--columns",
        "layer,actual",
    )
    assert code == 0, err
    data = json.loads(out)
    assert [r["name"] for r in data["layers"]] == ["stem_conv_pad", "stem_conv", "stem_bn", "stem_activation"]
    assert data["view"] == {
        "columns": ["layer", "actual"],
        "depth": None,
        "layers": "^efficientnetb0/stem",
        "changes_only": False,
    }
    assert data["costs"]["macs"] > 0  # totals stay those of the whole model
