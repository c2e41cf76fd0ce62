"""`shapetrace snapshot` / `shapetrace check` and the trace command's model options, end to end."""

from __future__ import annotations

import json
import textwrap
import zipfile
from pathlib import Path

import pytest
from conftest import one_line_error, run_fresh
from toy_models import trojan_files

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "ci"

FACTORIES = textwrap.dedent(
    """
    import keras

    def build(width=8, extra=False):
        inputs = keras.Input((16, 16, 1), name="image")
        x = keras.layers.Conv2D(width, 3, name="stem")(inputs)
        for i in range(12 if extra else 0):
            x = keras.layers.Conv2D(width, 1, name=f"extra{i}")(x)
        return keras.Model(inputs, keras.layers.GlobalAveragePooling2D(name="pool")(x), name="net")

    def two_inputs():
        image = keras.Input((None, None, 3), name="image")
        meta = keras.Input((4,), name="meta")
        x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(8, 3)(image))
        return keras.Model([image, meta], keras.layers.Concatenate()([x, keras.layers.Dense(4)(meta)]))

    def raises():
        raise RuntimeError("weights server unreachable")

    def not_a_model():
        return "a string"
    """
)


@pytest.fixture
def factories(tmp_path) -> Path:
    path = tmp_path / "factories.py"
    path.write_text(FACTORIES)
    return path


@pytest.fixture
def baseline(factories, tmp_path, cli) -> Path:
    path = tmp_path / "net.json"
    code, out, _ = cli("snapshot", f"{factories}:build", "-o", path)
    assert code == 0 and f"Wrote {path}: net" in out
    return path


def _edit_factory(factories: Path, old: str, new: str) -> None:
    factories.write_text(factories.read_text().replace(old, new, 1))


# --------------------------------------------------------------------------- check


def test_check_match(baseline, cli):
    code, out, err = cli("check", baseline)
    assert code == 0, err
    assert f"✓ {baseline}: net matches (3 layers)" in out


def test_check_differs_then_update(baseline, factories, cli):
    _edit_factory(factories, "width=8", "width=16")
    code, out, _ = cli("check", baseline)
    assert code == 1
    assert "2 of 3 layers differ" in out
    assert "net/stem (Conv2D)" in out and "(1, 14, 14, 8)" in out and "(1, 14, 14, 16)" in out
    obtained = baseline.with_name("net.obtained.json")
    assert f"the whole new trace is in {obtained}" in out
    assert obtained.is_file()
    assert out.rstrip().endswith(f"accept it with: shapetrace check {baseline} --update")

    code, out, err = cli("check", baseline, "--update")
    assert code == 0
    assert "baseline updated, 2 of 3 layers differ" in out and f"Updated 1 baseline: {baseline}" in err
    assert not obtained.exists()
    assert cli("check", baseline)[0] == 0


def test_check_caps_huge_diffs(baseline, factories, cli):
    _edit_factory(factories, "extra=False", "extra=True")
    code, out, _ = cli("check", baseline, "--max-rows", "5")
    assert code == 1
    assert "12 of 15 layers differ" in out
    assert "… 7 more rows not shown; the whole new trace is in" in out
    assert out.count("layer added") == 5


def test_check_several_baselines_reports_each(baseline, factories, tmp_path, cli):
    second = tmp_path / "second.json"
    cli("snapshot", f"{factories}:build", "--factory-arg", "width=4", "-o", second)
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    _edit_factory(factories, "width=8", "width=16")
    code, out, err = cli("check", second, baseline)
    assert code == 1
    assert f"✓ {second}" in out and f"✗ {baseline}" in out
    code, out, err = cli("check", bad, second)
    assert code == 2
    assert "is not valid JSON" in err and f"✓ {second}" in out
    code, out, err = cli("check", bad, second, "--format", "json")
    assert code == 2
    first, other = json.loads(out)
    assert first["status"] == "error" and "is not valid JSON" in first["error"] and other["status"] == "match"
    # One layout whatever happened to each baseline: the same keys, `failed` always there.
    assert first.keys() == other.keys() and first["failed"] is True and other["failed"] is False


def test_check_json_format(baseline, cli):
    code, out, _ = cli("check", baseline, "--format", "json")
    assert code == 0
    [result] = json.loads(out)
    assert result["status"] == "match" and result["diff"]["layers_total"] == 3


def test_version_drift_is_reported_not_failed(baseline, cli):
    data = json.loads(baseline.read_text())
    data["versions"]["tensorflow"] = "2.15.0"
    baseline.write_text(json.dumps(data))
    code, out, _ = cli("check", baseline)
    assert code == 0
    assert "tensorflow 2.15.0 →" in out and "not a failure by itself" in out


def test_backend_change_is_noted_not_failed(baseline, cli):
    data = json.loads(baseline.read_text())
    assert data["versions"]["backend"] == "tensorflow"
    data["versions"] = {
        "keras": data["versions"]["keras"],
        "backend": "jax",
        "jax": "0.10.2",
        "shapetrace": data["versions"]["shapetrace"],
    }
    baseline.write_text(json.dumps(data))
    code, out, _ = cli("check", baseline)
    assert code == 0, out
    assert "on another Keras backend (backend jax → tensorflow)" in out and "not a failure by itself" in out
    code, out, _ = cli("check", baseline, "--format", "json")
    [result] = json.loads(out)
    # The backend's own package versions are not listed as drift: the backend's name says it.
    assert result["diff"]["versions"] == [{"field": "backend", "baseline": "jax", "now": "tensorflow"}]


def test_baseline_without_a_backend_counts_as_tensorflow(baseline, cli):
    data = json.loads(baseline.read_text())
    del data["versions"]["backend"]  # written before the backend was recorded
    baseline.write_text(json.dumps(data))
    code, out, _ = cli("check", baseline)
    assert code == 0 and "note:" not in out, out


def test_example_baseline_is_current(cli, monkeypatch):
    monkeypatch.chdir(ROOT)
    code, out, err = cli("check", "examples/ci/tests/shapes/digits_cnn.json")
    assert code == 0, out + err


# --------------------------------------------------------------------------- bad baselines


@pytest.mark.parametrize(
    "content, needle",
    [
        ("not json at all", "is not valid JSON"),
        ('{"schema": "other/1"}', "has schema 'other/1'"),
        (
            '{"schema": "shapetrace.baseline/1", "request": {"model": "resnet50"}, "verdict": "ok", '
            '"boundary": {"accepted": true}, "probes": [{"shape": [1, 8, 8, 3]}], "layers": 3}',
            "layers: expected a list, got 3",
        ),
    ],
)
def test_bad_baselines(tmp_path, cli, content, needle):
    path = tmp_path / "shapes.json"
    path.write_text(content)
    code, _, err = cli("check", path)
    one_line_error(code, err, needle, str(path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shapes.json"]


def test_missing_baseline(tmp_path, cli, monkeypatch):
    monkeypatch.setenv("CI", "1")
    code, _, err = cli("check", tmp_path / "absent.json", "--update")
    one_line_error(code, err, "does not exist", "shapetrace snapshot")
    assert not (tmp_path / "absent.json").exists()


# --------------------------------------------------------------------------- bad models


def _bad_models(tmp_path: Path, factories: Path) -> dict[str, tuple[str, str]]:
    truncated = tmp_path / "truncated.keras"
    from shapetrace.tracing._keras_graph import keras

    inputs = keras.Input((4,))
    good = tmp_path / "good.keras"
    keras.Model(inputs, keras.layers.Dense(2)(inputs)).save(good)
    truncated.write_bytes(good.read_bytes()[:300])
    (tmp_path / "broken_import.py").write_text("import definitely_missing_module\n\ndef build():\n    pass\n")
    return {
        "missing file": (str(tmp_path / "nope.keras"), "does not exist"),
        "wrong extension": (str(tmp_path / "model.onnx"), "expected a .keras or .h5 model file"),
        "truncated .keras": (str(truncated), "corrupt or truncated"),
        "factory raises": (
            f"{factories}:raises",
            "raised RuntimeError when called with (): weights server unreachable",
        ),
        "not a model": (f"{factories}:not_a_model", "returned a builtins.str: expected a keras.Model"),
        "import fails": (
            f"{tmp_path / 'broken_import.py'}:build",
            "No module named 'definitely_missing_module'",
        ),
        "unknown name": ("resnet5O", "Unknown model 'resnet5O'"),
    }


def test_bad_models_are_one_line_and_write_nothing(tmp_path, factories, cli):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    for label, (spec, needle) in _bad_models(tmp_path, factories).items():
        code, _, err = cli("snapshot", spec, "-o", out_dir / "shapes.json")
        one_line_error(code, err, needle)
        assert list(out_dir.iterdir()) == [], label
        code, _, err = cli("trace", spec)
        one_line_error(code, err, needle)


def test_factory_import_error_names_the_module(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli("snapshot", "company.models:build", "-o", tmp_path / "s.json")
    one_line_error(code, err, "Cannot import module 'company.models'", "No module named 'company'")


# --------------------------------------------------------------------------- the security refusal


@pytest.fixture
def trojan(tmp_path) -> tuple[Path, Path]:
    """A .keras file whose Lambda writes ``pwned.txt`` whenever it is called (on load, too)."""
    files, marker = trojan_files(tmp_path, ".keras")
    return files[".keras"], marker


def test_lambda_file_is_refused_and_nothing_runs(trojan, cli, tmp_path):
    path, marker = trojan
    for argv in (["trace", path], ["snapshot", path, "-o", tmp_path / "s.json"]):
        code, out, err = cli(*argv)
        one_line_error(code, err, "layer 'evil' is a Lambda layer", "--unsafe-load")
        assert out == ""
        assert not marker.exists()
    assert not (tmp_path / "s.json").exists()


def test_unsafe_load_warns_loudly(trojan, cli):
    path, marker = trojan
    code, out, err = cli("trace", path, "--unsafe-load", "--format", "json")
    assert code == 0
    assert "warning:" in err and "unsafe deserialization" in err and "'evil'" in err
    assert json.loads(out)["verdict"] == "ok"
    assert marker.exists()  # the control: this file really runs code when loaded


# --------------------------------------------------------------------------- trace options


def test_trace_help_lists_the_model_options(cli):
    code, out, _ = cli("trace", "--help")
    assert code == 0
    for option in ("--unsafe-load", "--factory-arg", "--input", ".keras", "module:function"):
        assert option in out


def test_trace_with_factory_args_and_inputs(factories, cli):
    code, out, err = cli(
        "trace",
        f"{factories}:two_inputs",
        "--input",
        "image=20x20x3",
        "--input",
        "meta=4",
        "--format",
        "json",
    )
    assert code == 0, err
    data = json.loads(out)
    assert [p["shape"] for p in data["probes"]] == [[1, 20, 20, 3], [1, 4]]
    by_name = {layer["name"]: layer["sources"] for layer in data["layers"]}
    assert by_name["dense"] == ["meta"] and by_name["concatenate"] == ["image", "meta"]

    code, out, err = cli("trace", f"{factories}:two_inputs", "--input", "image=20x20x3", "--input", "meta=7")
    assert code == 1, err
    assert "Inputs: image (1, 20, 20, 3) reaches rows 0, 2–3 · meta (1, 7) reaches rows 1, 4" in out
    assert "The break at row 4 (functional/dense) is on the path of input meta." in out

    code, out, err = cli("trace", f"{factories}:build", "--factory-arg", "width=5", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["layers"][1]["output"] == [1, 14, 14, 5]

    code, _, err = cli("trace", f"{factories}:two_inputs")
    one_line_error(code, err, "Input 'image' declares (None, None, None, 3)", "--input image=HxWxC")
    code, _, err = cli("trace", f"{factories}:two_inputs", "--input", "label=3")
    one_line_error(code, err, "no input named 'label'")
    code, _, err = cli("trace", f"{factories}:build", "--factory-arg", "width")
    one_line_error(code, err, "--factory-arg")


def test_snapshot_records_how_to_rerun(factories, tmp_path, cli):
    path = tmp_path / "shapes" / "net.json"
    path.parent.mkdir()
    code, _, _ = cli(
        "snapshot", f"{factories}:build", "--factory-arg", "width=3", "--channels", "1", "-o", path
    )
    assert code == 0
    request = json.loads(path.read_text())["request"]
    assert request["model"] == "../factories.py:build"
    assert request["factory_args"] == {"width": 3} and request["channels"] == 1


def test_keras_zip_without_config(tmp_path, cli):
    path = tmp_path / "m.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("other.txt", "x")
    code, _, err = cli("trace", path)
    one_line_error(code, err, "without config.json")


@pytest.mark.slow  # a whole pytest run in a fresh process; the default run checks the same baseline via the CLI
def test_the_ci_example_passes_as_a_user_runs_it():
    """examples/ci is what a user copies: its own test (assert_shapes on the committed baseline) passes."""
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("SHAPETRACE_UPDATE", "CI")}
    done = run_fresh(
        [
            "import sys, pytest; sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', '-m', '',"
            " 'examples/ci/tests']))"
        ],
        module=False,
        cwd=ROOT,
        env=env,
    )
    assert done.code == 0, done.out + done.err
    assert "1 passed" in done.out
