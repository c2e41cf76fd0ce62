"""The CLI: routing, output formats, and one clear line with the right exit code for bad input."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest


def test_model_name_routes_to_trace(cli):
    code, out, err = cli("resnet50", "--size", "32", "--channels", "3", "--changes-only")
    assert code == 0, err
    code2, out2, _ = cli("trace", "resnet50", "--size", "32", "--channels", "3", "--changes-only")
    assert code2 == 0

    def strip(text):
        return [l for l in text.splitlines() if "walked in" not in l]

    assert strip(out) == strip(out2)


def test_options_before_the_model_also_route(cli):
    code, out, _ = cli("--channels", "1", "resnet50", "--size", "32")
    assert code == 1 and "conv1_conv" in out


def test_broken_probe_exits_1_with_break_row_and_hint(cli):
    code, out, err = cli("resnet50", "--channels", "1", "--size", "32")
    assert code == 1
    assert "✗ breaks" in out and "conv1_conv" in out
    assert "Hint: Try --channels 3" in out and "--native" in out
    # Following the hint works: adapt takes exactly these words (tests/test_adapt.py runs it).
    assert "shapetrace adapt resnet50 --channels 1 -o resnet50_1ch.keras" in " ".join(out.split())
    assert "Traceback" not in out + err


def test_piped_output_is_plain_and_never_cut(cli):
    code, out, _ = cli("efficientnetb0", "--channels", "1", "--size", "32")
    assert code == 0
    assert "\x1b[" not in out
    assert max(len(line) for line in out.splitlines()) > 80  # not wrapped to a terminal width
    assert "efficientnetb0/block1a_project_conv" in out and "…" not in out


def test_json_output_is_one_document(cli):
    code, out, _ = cli("efficientnetb0", "--channels", "1", "--size", "32", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["schema"] == "shapetrace.trace/1" and data["verdict"] == "ok"
    assert data["probe"]["shape"] == [1, 32, 32, 1]


def test_changes_only_applies_to_json_too(cli):
    base = ["efficientnetb0", "--channels", "1", "--size", "32", "--format", "json"]
    code, out, err = cli(*base)
    assert code == 0, err
    every = json.loads(out)
    code, out, err = cli(*base, "--changes-only")
    assert code == 0, err
    changed = json.loads(out)
    rows = every["layers"]
    got = [r["index"] for r in changed["layers"]]
    assert 2 < len(got) < len(rows) and got[0] == rows[0]["index"] and got[-1] == rows[-1]["index"]
    assert all(r["failed"] or r["channels_in"] == r["channels_out"] for r in rows if r["index"] not in got)
    assert changed["view"]["changes_only"] is True and every["view"]["changes_only"] is False
    # The same rows the table shows (its "#" column), and the layers keep their whole JSON.
    code, out, _ = cli(*base[:-2], "--changes-only", "--columns", "index", "--wide")
    cells = [re.fullmatch(r"\s*│\s*(\d+)\s*│\s*", line) for line in out.splitlines()]
    table_rows = [int(cell.group(1)) for cell in cells if cell]
    assert table_rows == got
    assert changed["layers"][0].keys() == every["layers"][0].keys()


def test_json_has_one_layout_whatever_the_flags(cli):
    base = ["efficientnetb0", "--channels", "1", "--size", "32", "--format", "json"]
    documents = []
    for extra in ([], ["--columns", "layer,actual"], ["--depth", "0"], ["--changes-only"]):
        code, out, err = cli(*base, *extra)
        assert code == 0, err
        documents.append(json.loads(out))
    assert all(d.keys() == documents[0].keys() for d in documents)
    assert all("failed" in layer for d in documents for layer in d["layers"])


def test_list_shows_40_models(cli):
    code, out, _ = cli("list", "--format", "json")
    data = json.loads(out)
    assert code == 0 and len(data) == 40
    assert {"model": "EfficientNetB5", "name": "efficientnetb5", "default_size": 456, "min_size": 32} in data


@pytest.mark.parametrize(
    "args, words",
    [
        (
            ["resnet50", "--channels", "0"],
            "--channels 0 is not a channel count: expected a whole number from 1",
        ),
        (["resnet50", "--channels", "-2"], "--channels -2 is not a channel count"),
        (["resnet50", "--channels", "1.5"], "'--channels'"),
        (["resnet50", "--channels", "5000"], "--channels 5000 is not a channel count"),
        (["resnet50", "--size", "16"], "below ResNet50's minimum of 32x32"),
        (["inceptionv3", "--size", "64x80"], "below InceptionV3's minimum of 75x75"),
        (["resnet50", "--size", "12x"], "Invalid --size '12x'"),
        (["resnet50", "--size", "32", "--weights", "/nonexistent/w.h5"], "does not exist"),
        (["efficientnet-b9"], "Did you mean"),
        (
            ["resnet50", "--size", "32", "--native", "--channels", "1", "--weights", "imagenet"],
            "expect 3 input channels",
        ),
        (["resnet50", "--size", "48", "--top"], "needs the default size 224x224"),
        (["resnet50", "--pooling", "mean"], "'--pooling'"),
    ],
)
def test_bad_input_is_one_line_exit_2(args, words, cli):
    code, out, err = cli(*args)
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("warning:")]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert words in lines[0]
    assert "Traceback" not in err and out == ""


def test_imagenet_download_failure_points_to_a_local_file(cli):
    # No network here: the real download path runs and fails.
    code, out, err = cli("mobilenetv3small", "--size", "32", "--weights", "imagenet")
    assert code == 2
    assert "Could not download the ImageNet weights" in err and "--weights path/to/" in err
    assert "Traceback" not in err


def test_local_weights_file_loads_and_a_mismatched_one_is_refused(tmp_path, cli):
    import numpy as np

    from shapetrace.models.applications import build_application
    from shapetrace.models.catalog import APPLICATIONS

    model = build_application(APPLICATIONS["mobilenetv3small"], size=(32, 32))
    for w in model.weights:
        if w.trainable:
            w.assign(np.full(w.shape, 0.5, dtype="float32"))
    path = tmp_path / "small.weights.h5"
    model.save_weights(path)
    from shapetrace.api import trace

    t = trace("mobilenetv3small", size=(32, 32), weights=path)
    assert t.ok
    code, _, err = cli("resnet50", "--size", "32", "--weights", str(path))
    assert code == 2 and "does not match resnet50" in err and "Traceback" not in err


def test_debug_shows_the_traceback(cli):
    code, _, err = cli("resnet50", "--channels", "0", "--debug")
    assert code == 2 and "Traceback" in err


@pytest.mark.parametrize("command", [[], ["trace"], ["list"]])
def test_help_on_each_command(command, cli):
    code, out, _ = cli(*command, "--help")
    assert code == 0 and "Usage" in out


def test_help_and_list_do_not_import_tensorflow():
    code = (
        "import sys; from shapetrace.cli.app import main\n"
        "try:\n    main(['list'])\nexcept SystemExit:\n    pass\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_python_dash_m_and_console_script_exit_codes():
    env = {**os.environ, "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "shapetrace", "resnet50", "--channels", "0"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 2 and done.stderr.startswith("error: --channels 0 is not a channel count")
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "words, cword, expected",
    [
        ("shapetrace efficientnetb", 1, "efficientnetb5"),  # a bare word completes to a model
        ("shapetrace li", 1, "list"),
        ("shapetrace trace resnet5", 2, "resnet50v2"),
        ("shapetrace resnet50 --pooling ", 3, "max"),
    ],
)
def test_shell_completion(words, cword, expected):
    env = {
        **os.environ,
        "_SHAPETRACE_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(cword),
    }
    done = subprocess.run([sys.executable, "-m", "shapetrace"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert expected in done.stdout.split()


@pytest.mark.parametrize("weights", ["imagenet", "/nonexistent/w.weights.h5"])
def test_user_model_with_weights_that_cannot_apply(weights, tmp_path, cli):
    factory = tmp_path / "tiny.py"
    factory.write_text(
        "import keras\n"
        "def build():\n"
        "    inputs = keras.Input((8, 8, 1))\n"
        "    return keras.Model(inputs, keras.layers.Conv2D(2, 3)(inputs))\n"
    )
    code, out, err = cli(f"{factory}:build", "--weights", weights)
    assert code == 2 and "does not exist" in err and len(err.strip().splitlines()) == 1


def test_typer_floor_ships_the_vendored_click_we_use():
    """pyproject's typer floor (0.26) is the first release with typer._click; the CLI uses these names."""
    import tomllib
    from pathlib import Path

    from typer._click.exceptions import NoArgsIsHelpError, NoSuchOption, UsageError
    from typer._click.shell_completion import CompletionItem
    from typer.core import TyperCommand, TyperGroup

    assert UsageError and NoArgsIsHelpError and NoSuchOption and CompletionItem
    assert TyperCommand and TyperGroup  # cli/core.py's ConventionalHelp builds on both
    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
    assert "typer>=0.26" in project["dependencies"]


def test_compare_refuses_the_single_probe_view_options(cli):
    for extra in (["--changes-only"], ["--columns", "layer"], ["--depth", "0"], ["--layers", "conv"]):
        code, out, err = cli("resnet50", "--size", "32", "--compare", "1", *extra)
        assert code == 2 and out == "", (extra, err)
        assert "drop them with --compare" in err and err.count("\n") == 1, err
