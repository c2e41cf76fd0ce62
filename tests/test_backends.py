"""The same trace on TensorFlow and on JAX (and PyTorch): every row (shapes, params, MACs, why) equal.

Keras fixes its backend once per process, so each backend runs in a subprocess of its own
(``KERAS_BACKEND=…``); this test process stays on TensorFlow. The JAX half needs the ``[jax]``
extra (``pip install -e '.[jax]'``), the PyTorch half a CPU build of torch; each is skipped,
saying so, without it. PyTorch runs only in the slow set (CI does not install it).
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest
from conftest import CliRun, run_fresh

ROOT = Path(__file__).resolve().parent.parent
USER_MODELS = ROOT / "tests" / "user_models.py"

needs_jax = pytest.mark.skipif(
    importlib.util.find_spec("jax") is None,
    reason="jax is not installed: `pip install -e '.[jax]'` to run the JAX backend tests",
)
needs_torch = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None,
    reason="torch is not installed: `pip install torch --index-url https://download.pytorch.org/whl/cpu` "
    "to run the PyTorch backend tests",
)
OTHER_BACKENDS = [
    pytest.param("jax", marks=needs_jax),
    pytest.param("torch", marks=[needs_torch, pytest.mark.slow]),
]

# What a row says about the model; timings and the backend itself are left out.
ROW_KEYS = (
    "index",
    "path",
    "name",
    "type",
    "depth",
    "inputs",
    "declared_output",
    "static_output",
    "output",
    "channels_in",
    "channels_out",
    "params",
    "trainable_params",
    "non_trainable_params",
    "macs",
    "activation_bytes",
    "shared",
    "why",
    "mechanism",
    "sources",
    "container",
)

# Traces a list of (model, options) in one process and prints their JSON: one Keras import
# per backend instead of one per model.
_DRIVER = """
import json, sys
import shapetrace
from shapetrace.tracing.report import trace_document
print(json.dumps([trace_document(shapetrace.trace(model, **options)) for model, options in json.loads(sys.argv[1])]))
"""


def _env(backend: str) -> dict[str, str]:
    return {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}


def run_shapetrace(backend: str, *args: str) -> CliRun:
    """``shapetrace ARGS`` in a fresh process on ``backend``."""
    return run_fresh(args, env=_env(backend), cwd=ROOT)


def trace_in(backend: str, cases: list[tuple[str, dict]]) -> list[dict]:
    done = run_fresh([_DRIVER, json.dumps(cases)], module=False, env=_env(backend), cwd=ROOT)
    assert done.code == 0, done.err[-3000:]
    return json.loads(done.out.strip().splitlines()[-1])


def comparable(trace: dict) -> dict:
    """Everything a trace says about the model, not about the machine or the backend."""
    return {
        "model": trace["model"],
        "probes": trace["probes"],
        "boundary": trace["boundary"],
        "verdict": trace["verdict"],
        "summary": trace["summary"],
        "broken": trace["broken"],
        "params": trace["totals"]["params"],
        "costs": trace["costs"],
        "layers": [{k: row.get(k) for k in ROW_KEYS} for row in trace["layers"]],
    }


def assert_same_rows(tensorflow: dict, jax: dict) -> None:
    a, b = comparable(tensorflow), comparable(jax)
    for left, right in zip(a.pop("layers"), b.pop("layers")):
        assert left == right, f"first row that differs between TensorFlow and JAX:\n{left}\n{right}"
    assert len(tensorflow["layers"]) == len(jax["layers"])
    assert a == b


@pytest.mark.slow  # ~20 s of JAX JIT per layer call; see conftest's list of slow tests
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_user_models_trace_the_same(backend):
    """A subclassed model (ResNet-ish: fed 1 channel it breaks; never called, the probe builds
    it), a VAE of custom layers and a transformer built from custom layers: the call recorder
    on another backend."""
    cases = [
        (f"{USER_MODELS}:resnetish_called", {"channels": 1}),
        (f"{USER_MODELS}:resnetish_called", {}),
        (f"{USER_MODELS}:vae_called", {}),
        (f"{USER_MODELS}:text_transformer", {}),
        (f"{USER_MODELS}:resnetish_unbuilt", {"inputs": {"": [32, 32, 3]}}),
    ]
    on_tensorflow, on_other = trace_in("tensorflow", cases), trace_in(backend, cases)
    for tf_trace, other in zip(on_tensorflow, on_other):
        assert tf_trace["versions"]["backend"] == "tensorflow" and other["versions"]["backend"] == backend
        assert "tensorflow" not in other["versions"]  # another backend never pays for TensorFlow
        assert_same_rows(tf_trace, other)
    broken, ok, vae, transformer, unbuilt = on_other
    # What makes this a real test of the recorder: custom blocks opened into their sublayers.
    assert broken["verdict"] == "broken" and broken["broken"]["type"] == "Conv2D"
    assert any(row.get("container") for row in ok["layers"])
    assert {(r["path"].rsplit("/", 1)[0], r["type"]) for r in vae["layers"]} >= {
        ("autoencoder/encoder", "Sampling"),
        ("autoencoder/decoder", "Dense"),
    }
    assert sum(row["params"] for row in transformer["layers"]) == transformer["totals"]["params"]
    # Building while probing (Keras's symbolic pass) records nothing: each call once.
    assert len({row["path"] for row in unbuilt["layers"]}) == len(unbuilt["layers"]) == len(ok["layers"])


@needs_jax
@pytest.mark.slow
def test_cli_says_it_ran_on_jax_and_gives_tensorflows_rows():
    """The issue's acceptance command, on both backends."""
    args = ("efficientnetb0", "--channels", "1", "--size", "64x64", "--format", "json")
    on_tensorflow, on_jax = run_shapetrace("tensorflow", *args), run_shapetrace("jax", *args)
    assert on_tensorflow.code == on_jax.code == 0, on_jax.err
    tf_trace, jax_trace = json.loads(on_tensorflow.out), json.loads(on_jax.out)
    assert jax_trace["versions"]["backend"] == "jax" and jax_trace["versions"]["jax"]
    assert_same_rows(tf_trace, jax_trace)
    assert jax_trace["changes"][0]["path"].endswith("normalization")  # the broadcast, on JAX too
    table = run_shapetrace("jax", "efficientnetb0", "--channels", "1", "--size", "64x64", "--changes-only")
    assert table.code == 0 and "on JAX)" in table.out, table.out[-500:]


@pytest.mark.slow
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_applications_trace_the_same(backend):
    cases = [
        ("resnet50", {"channels": 1, "size": [64, 64]}),  # the break row
        ("mobilenetv2", {"size": [64, 64]}),
        ("efficientnetb0", {"channels": 1, "size": [64, 64]}),
        ("densenet121", {"channels": 1, "size": [64, 64], "native": True}),
    ]
    on_tensorflow, on_other = trace_in("tensorflow", cases), trace_in(backend, cases)
    for tf_trace, other in zip(on_tensorflow, on_other):
        assert_same_rows(tf_trace, other)
    resnet = on_other[0]
    assert (
        resnet["broken"]["layer"].endswith("conv1_conv") and resnet["broken"]["received"] == "(1, 70, 70, 1)"
    )


@needs_jax
@pytest.mark.slow
def test_snapshot_on_tensorflow_checks_on_jax(tmp_path):
    """A baseline written on TensorFlow passes on JAX; the check notes the other backend."""
    (tmp_path / "pyproject.toml").write_text("")  # the project a baseline may run code from
    (tmp_path / "user_models.py").write_text(USER_MODELS.read_text())
    baseline = tmp_path / "shapes" / "resnetish.json"
    baseline.parent.mkdir()
    spec = f"{tmp_path / 'user_models.py'}:resnetish_called"
    written = run_shapetrace("tensorflow", "snapshot", spec, "-o", str(baseline))
    assert written.code == 0, written.err
    assert json.loads(baseline.read_text())["versions"]["backend"] == "tensorflow"
    checked = run_shapetrace("jax", "check", str(baseline))
    assert checked.code == 0, checked.out + checked.err
    assert "on another Keras backend (backend tensorflow → jax)" in checked.out
    as_json = run_shapetrace("jax", "check", str(baseline), "--format", "json")
    [result] = json.loads(as_json.out)
    assert result["status"] == "match"
    assert {"field": "backend", "baseline": "tensorflow", "now": "jax"} in result["diff"]["versions"]


@needs_jax
@pytest.mark.slow
def test_survey_on_jax_matches_tensorflow():
    args = (
        "survey",
        "--models",
        "^(mobilenetv2|resnet50|efficientnetb0)$",
        "--channels",
        "1",
        "--size",
        "64x64",
        "--format",
        "json",
    )
    on_tensorflow, on_jax = run_shapetrace("tensorflow", *args), run_shapetrace("jax", *args)
    assert on_tensorflow.code == on_jax.code == 0, on_jax.err
    tf_survey, jax_survey = json.loads(on_tensorflow.out), json.loads(on_jax.out)
    assert jax_survey["versions"]["backend"] == "jax"

    def strip(rows):
        return [{k: v for k, v in r.items() if not k.endswith("seconds")} for r in rows]

    assert strip(tf_survey["rows"]) == strip(jax_survey["rows"])
    verdicts = {r["key"]: r["verdict"] for r in jax_survey["rows"]}
    assert verdicts == {"efficientnetb0": "ok", "mobilenetv2": "broken", "resnet50": "broken"}


def test_the_configured_backend_is_read_without_importing_keras(tmp_path):
    """``--version`` names the backend from KERAS_BACKEND or keras.json, loading no backend."""
    (tmp_path / "keras.json").write_text('{"backend": "jax", "floatx": "float32"}')
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    code = (
        "import sys\nfrom shapetrace.backends import configured_backend\n"
        "from shapetrace.cli.app import version_text\n"
        "print(configured_backend(), '|', version_text(), '|', 'keras' in sys.modules)"
    )
    done = run_fresh([code], module=False, env={**env, "KERAS_HOME": str(tmp_path)})
    assert done.code == 0, done.err
    backend, version, imported = done.out.strip().split(" | ")
    assert backend == "jax" and "(backend jax" in version and imported == "False"
    done = run_fresh([code], module=False, env={**env, "KERAS_HOME": str(tmp_path), "KERAS_BACKEND": "torch"})
    assert done.code == 0, done.err
    assert done.out.startswith("torch |")
    done = run_fresh([code], module=False, env={**env, "KERAS_HOME": str(tmp_path / "nowhere")})
    assert done.code == 0, done.err
    assert done.out.startswith("tensorflow |")
