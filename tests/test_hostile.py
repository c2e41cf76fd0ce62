"""Hostile and absurd input (issue 9): a baseline never runs code from outside the project,
nothing ends in an internal error or a traceback, nothing is left behind.

Every crafted file is made here, in tmp_path; nothing is downloaded. Each case asserts the
exit code, the single stderr line, and the absence of side effects.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
import warnings
import zipfile
from pathlib import Path

import pytest
from conftest import one_line_error, run_fresh

ROOT = Path(__file__).resolve().parent.parent


def listing(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its content: to prove nothing was written or left."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def baseline_doc(model, **request) -> dict:
    """A valid baseline document naming ``model`` (what a hand-edited baseline looks like)."""
    return {
        "schema": "shapetrace.baseline/1",
        "request": {"model": model, **request},
        "verdict": "ok",
        "boundary": {"accepted": True, "reason": None},
        "broken": None,
        "probes": [{"name": "image", "shape": [1, 16, 16, 1]}],
        "layers": [
            {
                "path": "net/stem",
                "name": "stem",
                "type": "Conv2D",
                "output": [1, 14, 14, 8],
                "declared_output": [None, 14, 14, 8],
                "static_output": [None, 14, 14, 8],
            }
        ],
    }


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A repository (``pyproject.toml`` at its root) with a ``shapes/`` folder, as the working directory."""
    root = tmp_path / "project"
    (root / "shapes").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    monkeypatch.chdir(root)
    return root


def write_baseline(folder: Path, doc: dict, name: str = "net.json") -> Path:
    path = folder / name
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


# --------------------------------------------------------------------------- 1. a baseline runs only project code


def test_baseline_naming_os_system_runs_nothing(project, cli):
    baseline = write_baseline(
        project / "shapes", baseline_doc("os:system", factory_args={"command": "touch PWNED"})
    )
    before = listing(project)
    code, out, err = cli("check", baseline)
    one_line_error(code, err, "os:system", "outside the project", "a baseline may name only")
    assert not (project / "PWNED").exists() and not (project / "shapes" / "PWNED").exists()
    assert listing(project) == before and out == ""


def test_baseline_factory_re_exported_from_outside_is_refused_before_the_call(project, cli):
    # The module is the project's own (so importing it is allowed), but the callable it names
    # is os.system: where the factory is *defined* decides.
    (project / "evil.py").write_text("from os import system\n")
    baseline = write_baseline(
        project / "shapes", baseline_doc("evil:system", factory_args={"command": "touch PWNED"})
    )
    code, _, err = cli("check", baseline)
    one_line_error(code, err, "evil:system", "has no Python source", "a baseline may name only")
    assert not (project / "PWNED").exists()


def test_baseline_factory_file_outside_the_project_is_not_imported(project, tmp_path, cli):
    outside = tmp_path / "elsewhere" / "factory.py"
    outside.parent.mkdir()
    marker = tmp_path / "IMPORTED"
    outside.write_text(f"open({str(marker)!r}, 'w').close()\ndef build():\n    pass\n")
    rel = os.path.relpath(outside, project / "shapes")
    baseline = write_baseline(project / "shapes", baseline_doc(f"{rel}:build"))
    before = listing(project)
    code, _, err = cli("check", baseline)
    one_line_error(code, err, "factory.py", "outside the project")
    assert not marker.exists() and listing(project) == before


def test_baseline_module_whose_package_init_is_outside_is_not_imported(project, tmp_path, cli, monkeypatch):
    # find_spec("pkg.mod") would import pkg (running its __init__): the check must not.
    site = tmp_path / "site"
    (site / "evilpkg").mkdir(parents=True)
    marker = tmp_path / "INIT_RAN"
    (site / "evilpkg" / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    (site / "evilpkg" / "models.py").write_text("def build():\n    pass\n")
    monkeypatch.syspath_prepend(str(site))
    baseline = write_baseline(project / "shapes", baseline_doc("evilpkg.models:build"))
    code, _, err = cli("check", baseline)
    one_line_error(code, err, "evilpkg", "__init__.py", "outside the project")
    # The same module named as an --import of an application's baseline.
    baseline = write_baseline(
        project / "shapes", baseline_doc("mobilenetv3small", imports=["evilpkg.models"]), "app.json"
    )
    code, _, err = cli("check", baseline)
    one_line_error(code, err, "--import 'evilpkg.models'", "outside the project")
    assert not marker.exists() and "evilpkg" not in sys.modules


def test_baseline_import_outside_the_project_is_not_imported(project, tmp_path, cli):
    marker = tmp_path / "IMPORTED"
    (tmp_path / "layers.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    baseline = write_baseline(
        project / "shapes", baseline_doc("mobilenetv3small", imports=["../../layers.py"])
    )
    before = listing(project)
    code, _, err = cli("check", baseline)
    one_line_error(code, err, "--import '../../layers.py'", "outside the project")
    assert not marker.exists() and listing(project) == before


def test_baseline_model_file_outside_the_project_is_not_loaded_unsafely(project, tmp_path, cli):
    """Safe mode makes any model file harmless; --unsafe-load on check does not extend to files
    a baseline edit could point anywhere."""
    config = {
        "class_name": "Functional",
        "config": {
            "name": "trojan",
            "layers": [{"class_name": "Lambda", "module": "keras.layers", "config": {"name": "evil"}}],
        },
    }
    outside = _keras_archive(tmp_path / "trojan.keras", [json.dumps(config).encode()])
    baseline = write_baseline(project / "shapes", baseline_doc(os.path.relpath(outside, project / "shapes")))
    code, _, err = cli("check", baseline, "--unsafe-load")
    one_line_error(code, err, "trojan.keras", "with --unsafe-load", "outside the project")
    code, _, err = cli("check", baseline)  # without it: the scan refuses the Lambda
    one_line_error(code, err, "Refusing to load", "Lambda")


# --------------------------------------------------------------------------- 2. archive members are bounded


def _keras_archive(path: Path, config_chunks, *, metadata: bytes = b"{}") -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", metadata)
        with archive.open("config.json", "w", force_zip64=True) as member:
            for chunk in config_chunks:
                member.write(chunk)
    return path


def test_keras_config_inflating_past_the_cap_is_refused(tmp_path, cli):
    mib = b" " * (1024 * 1024)
    # 65 MiB of whitespace inside a valid JSON object: a few hundred kB on disk.
    path = _keras_archive(
        tmp_path / "bomb.keras", [b'{"class_name": "Functional", "config": {}', *[mib] * 65, b"}"]
    )
    assert path.stat().st_size < 2 * 1024 * 1024
    before = listing(tmp_path)
    code, out, err = cli("trace", path)
    one_line_error(code, err, "config.json", "larger than 64 MiB")
    assert listing(tmp_path) == before and out == ""


def test_keras_metadata_inflating_past_the_cap_is_refused(tmp_path, cli):
    # Keras reads metadata.json whole too, after our scan of config.json.
    path = tmp_path / "meta.keras"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "config.json",
            json.dumps({"class_name": "Functional", "module": "keras", "config": {"layers": []}}),
        )
        with archive.open("metadata.json", "w", force_zip64=True) as member:
            for _ in range(65):
                member.write(b" " * (1024 * 1024))
    code, _, err = cli("trace", path)
    one_line_error(code, err, "metadata.json", "larger than 64 MiB")


def test_keras_config_with_a_lying_size_header_is_still_bounded(tmp_path, cli):
    mib = b" " * (1024 * 1024)
    path = _keras_archive(
        tmp_path / "liar.keras", [b'{"class_name": "Functional", "config": {}', *[mib] * 65, b"}"]
    )
    # Rewrite the declared (uncompressed) size in both headers to 100 bytes.
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("config.json")
    real = info.file_size
    assert data.count(real.to_bytes(8, "little")) >= 1  # zip64 extra fields carry the size
    data = data.replace(real.to_bytes(8, "little"), (100).to_bytes(8, "little"))
    path.write_bytes(bytes(data))
    code, _, err = cli("trace", path)
    one_line_error(code, err, "liar.keras")


# --------------------------------------------------------------------------- 3. user code that exits


FACTORIES = textwrap.dedent(
    """
    import sys

    def exits():
        sys.exit(0)

    def interrupts_politely():
        raise SystemExit("bye")

    def exits_when_called():
        import keras

        class Quitter(keras.layers.Layer):
            def call(self, x):
                if hasattr(x, "numpy"):  # a real tensor: the trace, not the graph's construction
                    sys.exit(0)
                return x

        inputs = keras.Input((16, 16, 1), name="image")
        return keras.Model(inputs, Quitter()(keras.layers.Conv2D(8, 3, name="stem")(inputs)), name="net")
    """
)


def test_factory_exiting_is_a_load_failure_and_check_never_passes(project, cli):
    (project / "factories.py").write_text(FACTORIES)
    code, _, err = cli("trace", "factories.py:exits")
    one_line_error(
        code, err, "factories.py:exits", "exited (SystemExit(0))", "expected it to return a keras.Model"
    )
    baseline = write_baseline(project / "shapes", baseline_doc("../factories.py:exits"))
    before = listing(project)
    code, out, err = cli("check", baseline)
    one_line_error(code, err, "exited (SystemExit(0))")
    assert listing(project) == before and out == ""


def test_custom_layer_exiting_during_the_trace_fails_the_check(project, cli):
    (project / "factories.py").write_text(FACTORIES)
    baseline = write_baseline(project / "shapes", baseline_doc("../factories.py:exits_when_called"))
    before = listing(project)
    code, out, err = cli("check", baseline)
    one_line_error(code, err, "exited (SystemExit(0))", "could not be traced")
    assert listing(project) == before and out == ""


def test_import_exiting_at_import_time_is_a_load_failure(project, cli):
    (project / "layers.py").write_text("raise SystemExit('no GPU, bye')\n")
    (project / "factories.py").write_text(FACTORIES)
    code, _, err = cli("trace", "factories.py:exits", "--import", "layers.py")
    one_line_error(code, err, "layers.py", "exited (SystemExit('no GPU, bye'))")


# --------------------------------------------------------------------------- 7. deep JSON


def test_deeply_nested_baseline(tmp_path, cli):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000)
    code, _, err = cli("check", path)
    one_line_error(code, err, "deep.json", "nests lists or objects more than")
    assert "RecursionError" not in err and path.read_text() == "[" * 100_000


def test_deeply_nested_keras_config(tmp_path, cli):
    path = _keras_archive(tmp_path / "deep.keras", [b"[" * 100_000])
    code, _, err = cli("trace", path)
    one_line_error(code, err, "deep.keras", "config.json nests lists or objects")


def test_keras_config_nested_just_past_the_limit(tmp_path, cli):
    # Parses fine (below Python's recursion limit) but would drive the scan and Keras too deep.
    doc = {"class_name": "Functional", "config": {}}
    node = doc["config"]
    for _ in range(250):
        node["x"] = {}
        node = node["x"]
    path = _keras_archive(tmp_path / "deepish.keras", [json.dumps(doc).encode()])
    code, _, err = cli("trace", path)
    one_line_error(code, err, "nests lists or objects more than 200 deep")


# --------------------------------------------------------------------------- 10, 11, 16: weights


def test_empty_weights_is_refused(tmp_path, cli):
    code, _, err = cli("mobilenetv3small", "-w", "")
    one_line_error(code, err, "Invalid --weights ''")


@pytest.mark.parametrize(
    "content, name",
    [
        (b"this is not hdf5 at all\n", "garbage.weights.h5"),
        (b"\x89HDF\r\n\x1a\n" + b"\0" * 8, "truncated.h5"),
        (b"PK", "half.keras"),
    ],
)
def test_not_a_weights_file(tmp_path, cli, content, name):
    weights = tmp_path / name
    weights.write_bytes(content)
    code, _, err = cli("mobilenetv3small", "-w", weights)
    one_line_error(code, err, "is not a weights file")
    assert "does not match" not in err


def test_weights_with_another_suffix(tmp_path, cli):
    weights = tmp_path / "weights.ckpt"
    weights.write_bytes(b"x")
    code, _, err = cli("mobilenetv3small", "-w", weights)
    one_line_error(code, err, "not a weights file Keras reads", ".weights.h5")


def test_weights_of_another_model_report_one_line_not_one_warning_per_layer(tmp_path, capsys):
    """Keras warns once per unmatched nested container ("Skipping nested container at …") before
    its error. Keras 3.15 writes those only for files saved by older Keras versions, which cannot
    be made offline here, so the model below emits Keras's own warning per layer from
    ``load_weights`` and then fails as Keras does; the CLI must print the error line alone."""
    import keras

    from shapetrace.errors import WeightsError
    from shapetrace.models.applications import load_weights_file

    class OlderFileModel(keras.Model):
        def load_weights(self, filepath, *args, **kwargs):
            for layer in self.layers:
                warnings.warn(
                    f"Skipping nested container at 'layers/{layer.name}': no matching group found in the saved file.",
                    UserWarning,
                    stacklevel=2,
                )
            return super().load_weights(filepath, *args, **kwargs)

    inputs = keras.Input((8,))
    source = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    weights = tmp_path / "other.weights.h5"
    source.save_weights(weights)
    x = inputs = keras.Input((8,))
    for width in (16,) * 40:
        x = keras.layers.Dense(width)(x)
    target = OlderFileModel(inputs, x, name="deep")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(WeightsError, match="does not match deep as built"):
            load_weights_file(target, weights)
    assert caught == []


# --------------------------------------------------------------------------- 12, 13, 15, 17: messages


def test_version(cli):
    code, out, err = cli("--version")
    from importlib import metadata

    import shapetrace

    assert code == 0 and err == ""
    assert out.startswith(f"shapetrace {shapetrace.__version__} · keras {metadata.version('keras')}")
    assert f"tensorflow {metadata.version('tensorflow')}" in out and out.count("\n") == 1


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("kind", ["fifo", "zero", "folder"])
def test_special_files_say_what_they_are(tmp_path, cli, kind):
    expected = {
        "fifo": "is a named pipe (FIFO)",
        "zero": "is a symbolic link to '/dev/zero', a character device",
        "folder": "is a folder",
    }[kind]
    # As a baseline, a model, a weights file and --import code: each says what the path is.
    for suffix, argv in (
        (".json", ["check"]),
        (".keras", ["trace"]),
        (".weights.h5", ["mobilenetv3small", "--weights"]),
        (".py", ["tmp_factory.py:build", "--import"]),
    ):
        path = tmp_path / f"{kind}{suffix}"
        if kind == "fifo":
            os.mkfifo(path)
        elif kind == "zero":
            os.symlink("/dev/zero", path)
        else:
            path.mkdir()
        code, _, err = cli(*argv, path)
        one_line_error(code, err, expected)
        assert "does not exist" not in err


def test_echoed_input_is_cut(tmp_path, cli):
    name = "x" * 100_000
    code, _, err = cli("trace", name)
    one_line_error(code, err, "…")
    assert len(err) < 1000
    code, _, err = cli("trace", "mobilenetv3small", "--size", "9" * 50_000 + "x" + "y" * 50_000)
    one_line_error(code, err, "…")
    assert len(err) < 1000
    spaced = " ".join(["word"] * 20_000)
    code, _, err = cli("check", tmp_path / f"{spaced}.json")
    one_line_error(code, err, "shapetrace snapshot")  # the tail, which says what to do, is kept
    assert len(err) < 1600


NO_TENSORFLOW = textwrap.dedent(
    """
    import json, sys
    from shapetrace.cli.app import main

    codes = []
    for argv in ARGVS:
        try:
            main(argv)
        except SystemExit as done:
            codes.append(done.code)
    print(json.dumps({"codes": codes, "tensorflow": "tensorflow" in sys.modules}))
    """
)


def test_refusals_need_no_tensorflow(tmp_path):
    """Refusing an unsafe file, a missing --weights file and --version answer before TensorFlow
    is imported (timings: benchmarks/bench_refusals.py)."""
    config = {
        "class_name": "Functional",
        "config": {
            "name": "trojan",
            "layers": [
                {
                    "class_name": "Lambda",
                    "module": "keras.layers",
                    "config": {
                        "name": "evil",
                        "function": {"class_name": "function", "module": "builtins", "config": "exec"},
                    },
                }
            ],
        },
    }
    trojan = _keras_archive(tmp_path / "trojan.keras", [json.dumps(config).encode()])
    clean = {"class_name": "Functional", "module": "keras", "config": {"name": "net", "layers": []}}
    model = _keras_archive(tmp_path / "model.keras", [json.dumps(clean).encode()])
    argvs = [
        ["trace", str(trojan)],
        ["trace", str(model), "--weights", str(tmp_path / "missing.weights.h5")],
        ["mobilenetv3small", "--weights", str(tmp_path / "missing.weights.h5")],
        ["check", str(tmp_path / "missing.json")],
        ["--version"],
    ]
    script = f"ARGVS = {argvs!r}\n" + NO_TENSORFLOW
    done = run_fresh([script], module=False, cwd=tmp_path, timeout=120)
    assert done.code == 0, done.err
    result = json.loads(done.out.strip().splitlines()[-1])
    assert result == {"codes": [2, 2, 2, 2, 0], "tensorflow": False}, done.err
    lines = done.err.strip().splitlines()
    assert len(lines) == 4 and all(line.startswith("error: ") for line in lines), done.err
    assert "Lambda" in lines[0] and "missing.weights.h5" in lines[1] and "does not exist" in lines[2]
