"""``--import``: a saved model with custom layers or a named-function Lambda (issue 8, item 4).

The models are the keras.io text Transformer (custom ``TransformerBlock`` and
``TokenAndPositionEmbedding``) and the Siamese network with its ``euclidean_distance``
Lambda, from tests/user_models.py. Keras's registry is process-global: once a module
registered a class, it stays registered. So the models are saved from a *copy* of the
module under its own package name (``h9copy``), the load errors that must not find the
code are checked in a fresh process, and shapetrace's own pre-load scan never consults the
registry (only what ``--import`` brought).
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest
from conftest import run_fresh

USER_MODELS = Path(__file__).resolve().parent / "user_models.py"


def error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    """A project with ``models/my_layers.py`` (the user's code) and the two saved models."""
    root = tmp_path_factory.mktemp("custom_objects")
    (root / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    (root / "models").mkdir()
    (root / "shapes").mkdir()
    code = USER_MODELS.read_text().replace('PACKAGE = "shapetrace_tests"', 'PACKAGE = "h9copy"')
    assert 'PACKAGE = "h9copy"' in code
    (root / "models" / "my_layers.py").write_text(code)
    spec = importlib.util.spec_from_file_location("h9copy_my_layers", root / "models" / "my_layers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.text_transformer(maxlen=40, vocab_size=500).save(root / "models" / "text.keras")
    module.siamese().save(root / "models" / "siamese.keras")
    return root


FRESH = """
import json, sys
from shapetrace.cli.app import main

codes = []
for argv in json.loads(sys.argv[1]):
    try:
        main(argv)
    except SystemExit as done:
        codes.append(done.code)
    print("--", file=sys.stderr, flush=True)
print(json.dumps(codes))
"""


def test_without_import_the_error_names_what_is_missing_and_suggests_import(saved):
    """In a process where no test module registered anything (one process, two runs).

    The second run imports TensorFlow with TF_CPP_MIN_LOG_LEVEL=2, a common setting that
    still shows ERROR logs: on a machine without a GPU TensorFlow logs "failed call to
    cuInit" at its first device probe, after the import (issue 9, item 18). The stderr of
    each run must be its one error line and nothing else.
    """
    argvs = [["models/text.keras"], ["models/siamese.keras", "--unsafe-load"]]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = run_fresh([FRESH, json.dumps(argvs)], module=False, cwd=saved, timeout=300, env=env)
    assert json.loads(done.out.strip().splitlines()[-1]) == [2, 2], done.err
    text_err, siamese_err = done.err.split("--\n")[:2]
    line = error_line(text_err)
    assert "'h9copy>TokenAndPositionEmbedding'" in line and "--import" in line
    line = error_line(siamese_err)
    assert "custom function 'euclidean_distance'" in line and "--import" in line
    assert "corrupt" not in line and "truncated" not in line
    warning, error = siamese_err.strip().splitlines()  # the --unsafe-load warning, then the error
    assert warning.startswith("warning: loading 'models/siamese.keras' with unsafe deserialization")
    assert "cuInit" not in done.err


def test_custom_layers_with_import_load_and_trace(saved, cli, monkeypatch):
    monkeypatch.chdir(saved)
    code, out, err = cli("models/text.keras", "--import", "models/my_layers.py", "--format", "json")
    assert code == 0, err
    trace = json.loads(out)
    assert trace["model"] == "text_transformer" and trace["request"]["imports"] == ["models/my_layers.py"]
    assert trace["probes"][0]["shape"] == [1, 40]
    assert any(layer["type"] == "TransformerBlock" for layer in trace["layers"])


def test_lambda_needs_unsafe_load_as_well_as_import(saved, cli, monkeypatch):
    monkeypatch.chdir(saved)
    code, _, err = cli("models/siamese.keras", "--import", "models/my_layers.py")
    assert code == 2 and "Lambda" in error_line(err) and "--unsafe-load" in error_line(err)
    code, out, err = cli(
        "models/siamese.keras", "--import", "models/my_layers.py", "--unsafe-load", "--format", "json"
    )
    assert code == 0, err
    assert json.loads(out)["layers"][-1]["output"] == [1, 1]


def test_snapshot_records_imports_and_check_reimports_them(saved, cli, monkeypatch):
    monkeypatch.chdir(saved)
    baseline = saved / "shapes" / "text.json"
    code, _, err = cli("snapshot", "models/text.keras", "--import", "models/my_layers.py", "-o", baseline)
    assert code == 0, err
    written = baseline.read_text()
    assert json.loads(written)["request"]["imports"] == ["../models/my_layers.py"]
    # From another working directory: the import is found relative to the baseline.
    monkeypatch.chdir(saved / "models")
    code, out, err = cli("check", baseline)
    assert code == 0, err
    assert "matches" in out and baseline.read_text() == written


def test_check_refuses_an_import_outside_the_project(saved, cli, monkeypatch, tmp_path):
    monkeypatch.chdir(saved)
    outside = tmp_path / "their_layers.py"
    outside.write_text((saved / "models" / "my_layers.py").read_text())
    baseline = saved / "shapes" / "outside.json"
    code, _, err = cli("snapshot", "models/text.keras", "--import", outside, "-o", baseline)
    assert code == 0, err  # on the command line it is the user's choice
    written = baseline.read_text()
    code, out, err = cli("check", baseline)
    line = error_line(err)
    assert code == 2 and "their_layers.py" in line and "outside the project" in line
    assert baseline.read_text() == written and not (saved / "shapes" / "outside.obtained.json").exists()


def test_import_of_a_missing_file_or_a_bad_module(saved, cli, monkeypatch):
    monkeypatch.chdir(saved)
    code, _, err = cli("models/text.keras", "--import", "models/nope.py")
    assert code == 2 and "does not exist" in error_line(err)
    code, _, err = cli("models/text.keras", "--import", "no_such_module_h9")
    assert code == 2 and "Cannot import module 'no_such_module_h9'" in error_line(err)
    code, _, err = cli("mobilenetv3small", "--import", "models/my_layers.py")
    assert code == 2 and "application name" in error_line(err)
    code, _, err = cli("survey", "--models", "mobilenetv3small", "--import", "models/nope.py")
    assert code == 2 and "does not exist" in error_line(err)
