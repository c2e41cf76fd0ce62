"""``shapetrace train`` on JAX (and PyTorch where installed): the same command, files, resume and
adaptation as on TensorFlow; the input pipeline without TensorFlow; ``--distribute`` through each
backend's own engine, or one line saying there is none.

Keras fixes its backend per process, so another backend runs in a subprocess (this process stays
on TensorFlow). Those subprocesses block ``import tensorflow`` (a ``sys.meta_path`` finder that
raises ImportError): training on JAX must not need it. PyTorch is not installed in CI: its cases
skip, saying so.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import run_fresh
from train_support import write_image_tree

ROOT = Path(__file__).resolve().parent.parent

SMALL_RUN = ["--model", "mobilenetv3small", "--size", "32x32", "--limit", "40", "--batch-size", "16"]
"""A run of a few seconds: 40 images of 32x32 through MobileNetV3Small (epochs given per test)."""

needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
needs_torch = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None,
    reason="torch is not installed: `pip install torch --index-url https://download.pytorch.org/whl/cpu`",
)
OTHER_BACKENDS = [pytest.param("jax", marks=needs_jax), pytest.param("torch", marks=needs_torch)]

# Prepended to every script run on another backend: TensorFlow cannot be imported there.
BLOCK_TENSORFLOW = """
import importlib.abc, sys
class _NoTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "tensorflow":
            raise ImportError("tensorflow is blocked in this test")
        return None
sys.meta_path.insert(0, _NoTensorFlow())
"""


def env_for(backend: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3", **extra}


def run_on(backend: str, script: str, **extra: str):
    return run_fresh(
        [BLOCK_TENSORFLOW + textwrap.dedent(script)], module=False, env=env_for(backend, **extra)
    )


def cli_on(backend: str, *args: str, **extra: str):
    script = f"from shapetrace.cli.app import main\nmain({[str(a) for a in args]!r})"
    return run_on(backend, script, **extra)


# -- no training: the refusals, the pipeline ------------------------------------------------------


@needs_jax
def test_numpy_backend_is_refused_in_one_line(tmp_path):
    done = cli_on("numpy", "train", "--epochs", "1", "--output", tmp_path / "run")
    assert done.code == 2, done.err
    assert done.err.startswith("error: ") and done.err.count("\n") == 1, done.err
    assert "needs a Keras backend that trains" in done.err and "set to numpy" in done.err
    assert not (tmp_path / "run").exists()


@needs_jax
def test_multi_worker_on_jax_says_there_is_no_such_path(tmp_path):
    done = cli_on("jax", "train", "--distribute", "multi-worker", "--output", tmp_path / "run")
    assert done.code == 2, done.err
    assert done.err.count("\n") == 1 and "on JAX use --distribute mirrored" in done.err, done.err
    assert not (tmp_path / "run").exists()


@needs_torch
def test_mirrored_on_torch_says_there_is_no_such_path(tmp_path):
    done = cli_on("torch", "train", "--distribute", "mirrored", "--output", tmp_path / "run")
    assert done.code == 2 and "no supported multi-device path on PyTorch" in done.err, done.err


@needs_jax
def test_depthwise_conv_by_slices_equals_keras_on_jax():
    """Training on JAX runs depthwise convolutions by slices (XLA:CPU's grouped-convolution gradient
    is slow): the outputs and both gradients must equal Keras's own, for strides, dilation, a depth
    multiplier, even kernels and both paddings; and Keras's function is back after the block."""
    script = """
    import numpy as np, jax, jax.numpy as jnp, keras
    from keras.src.backend.jax import nn as jax_nn
    from shapetrace.tracing._keras_graph import depthwise_conv_by_slices
    original = jax_nn.depthwise_conv
    cases = [  # (input NHWC, kernel (kh, kw, C, M), strides, padding, dilation)
        ((2, 9, 9, 4), (3, 3, 4, 1), 1, "same", 1),
        ((2, 11, 11, 4), (5, 5, 4, 1), 2, "same", 1),
        ((1, 10, 8, 3), (3, 3, 3, 2), 1, "valid", 2),
        ((1, 8, 8, 2), (2, 4, 2, 3), (2, 1), "same", 1),
        ((2, 7, 7, 5), (3, 3, 5, 1), 2, "valid", 1),
    ]
    rng = np.random.default_rng(0)
    worst = 0.0
    for xs, ks, strides, padding, dilation in cases:
        x = jnp.asarray(rng.normal(size=xs), "float32")
        k = jnp.asarray(rng.normal(size=ks), "float32")
        def loss(x, k):
            y = keras.ops.depthwise_conv(x, k, strides, padding, "channels_last", dilation)
            return jnp.sum(jnp.sin(y)), y
        (_, want), (want_dx, want_dk) = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(x, k)
        with depthwise_conv_by_slices():
            assert jax_nn.depthwise_conv is not original
            (_, got), (got_dx, got_dk) = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(x, k)
        assert got.shape == want.shape, (got.shape, want.shape)
        for a, b in ((got, want), (got_dx, want_dx), (got_dk, want_dk)):
            worst = max(worst, float(jnp.max(jnp.abs(a - b))))
    assert jax_nn.depthwise_conv is original
    assert worst < 1e-4, worst
    print("ok", worst)
    """
    done = run_on("jax", script)
    assert done.code == 0 and "ok" in done.out, done.out + done.err


def test_digits_resize_is_tensorflows_bilinear():
    import tensorflow as tf

    from shapetrace.train.data import resize_bilinear

    x = np.random.default_rng(0).uniform(0, 255, (3, 8, 13, 1)).astype("float32")
    for size in ((32, 32), (5, 7), (75, 40)):
        expected = tf.image.resize(x, size, method="bilinear").numpy()
        np.testing.assert_allclose(resize_bilinear(x, size), expected, atol=1e-3)


def test_folder_images_decode_as_the_tf_data_pipeline_does(tmp_path):
    """Pillow + NumPy (JAX, PyTorch) against tf.data (TensorFlow): the same pixels, ±1 for rounding."""
    from shapetrace.train.data import decode_images, make_pipeline, scan_folder

    folder = scan_folder(write_image_tree(tmp_path / "tree", classes=2, per_class=4))
    for channels in (1, 3):
        common = dict(size=(24, 24), channels=channels, batch_size=64, shuffle=False, seed=0)
        [(batch, _)] = list(
            make_pipeline(np.asarray(folder.paths), np.asarray(folder.labels), from_files=True, **common)
        )
        ours = decode_images(folder.paths, (24, 24), channels)
        assert ours.shape == tuple(batch.shape) and ours.dtype == np.uint8
        assert np.abs(ours.astype(int) - np.asarray(batch).astype(int)).max() <= 1


def test_batches_are_full_when_shuffled_and_exact_when_not():
    from shapetrace.train.data import make_batches

    images = np.arange(10, dtype="uint8").reshape(10, 1, 1, 1)
    labels = np.arange(10)
    train = make_batches(images, labels, batch_size=4, shuffle=True, seed=0)
    first = [train[i][1].tolist() for i in range(len(train))]
    assert len(train) == 3 and all(len(b) == 4 for b in first)
    assert set(sum(first, [])) == set(range(10))  # every image, the last batch completed
    train.on_epoch_end()
    assert [train[i][1].tolist() for i in range(len(train))] != first  # reshuffled
    val = make_batches(images, labels, batch_size=4, shuffle=False, seed=0)
    assert [val[i][1].tolist() for i in range(len(val))] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    x, y = val[0]
    assert x.dtype == np.float32 and y.dtype == np.int32


# -- real training runs (slow) --------------------------------------------------------------------

RESUME = """
import csv, json, sys
from pathlib import Path
from shapetrace.tracing._keras_graph import keras
from shapetrace.train import TrainConfig, train

out = Path(sys.argv[1])
config = TrainConfig(model="mobilenetv3small", size=(32, 32), batch_size=16, limit=40, epochs=3, output=str(out))

class InterruptAfter(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == 2:
            raise KeyboardInterrupt

try:
    train(config, callbacks=[InterruptAfter()])
except KeyboardInterrupt:
    pass
state = json.loads((out / "state.json").read_text())
assert state["epochs_completed"] == 2 and not state["finished"], state
kept = keras.models.load_model(out / state["checkpoint"])
result = train(config)  # the same command again
assert result.resumed_from == 2 and result.epochs == 3, result
epochs = [int(r["epoch"]) for r in csv.DictReader((out / "history.csv").open())]
assert epochs == [1, 2, 3], epochs
resumed = keras.models.load_model(out / "model.keras")
assert int(resumed.optimizer.iterations.numpy()) == 3 * int(kept.optimizer.iterations.numpy()) // 2
print(json.dumps({"backend": result.backend, "loaded_tensorflow": "tensorflow" in sys.modules}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_interrupted_run_resumes_on(backend, tmp_path):
    """tests/test_train_resume.py's first test, on another backend, with TensorFlow unimportable."""
    out = tmp_path / "run"
    done = run_fresh([BLOCK_TENSORFLOW + RESUME, str(out)], module=False, env=env_for(backend), timeout=1200)
    assert done.code == 0, done.err[-3000:]
    report = json.loads(done.out.strip().splitlines()[-1])
    assert report == {"backend": backend, "loaded_tensorflow": False}
    config = json.loads((out / "config.json").read_text())
    assert config["backend"] == backend and config["versions"]["backend"] == backend
    assert json.loads((out / "state.json").read_text())["backend"] == backend


@pytest.mark.slow
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_adaptation_tests_pass_on(backend):
    """tests/test_train_adapt.py (every --adapt choice's numerical claim), run on another backend."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(ROOT / "tests" / "test_train_adapt.py"),
        ],
        capture_output=True,
        text=True,
        env=env_for(backend),
        cwd=ROOT,
        timeout=1800,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "failed" not in done.stdout


@pytest.mark.slow
@needs_jax
def test_a_run_started_on_tensorflow_resumes_on_jax(tmp_path):
    from shapetrace.tracing._keras_graph import keras
    from shapetrace.train import TrainConfig, train

    class InterruptAfterFirst(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt

    out = tmp_path / "run"
    args = [*SMALL_RUN, "--epochs", "2"]
    config = TrainConfig(
        model="mobilenetv3small", size=(32, 32), limit=40, epochs=2, batch_size=16, output=str(out)
    )
    with pytest.raises(KeyboardInterrupt):
        train(config, callbacks=[InterruptAfterFirst()])
    done = cli_on("jax", "train", *args, "--output", out)
    assert done.code == 0, done.err[-3000:]
    assert "1 of 2 epochs already done (on TensorFlow)" in done.out
    assert "on JAX" in done.out
    assert json.loads((out / "config.json").read_text())["backend"] == "tensorflow"  # where it started
    state = json.loads((out / "state.json").read_text())
    assert state["backend"] == "jax" and state["finished"] and state["epochs_completed"] == 2


@pytest.mark.slow
@needs_jax
def test_mirrored_on_jax_is_keras_data_parallel_over_two_cpu_devices(tmp_path):
    out = tmp_path / "run"
    done = cli_on(
        "jax",
        "train",
        *SMALL_RUN,
        "--epochs",
        "1",
        "--distribute",
        "mirrored",
        "--output",
        out,
        XLA_FLAGS="--xla_force_host_platform_device_count=2",
    )
    assert done.code == 0, done.err[-3000:]
    assert "over 2 replicas" in done.out
    config = json.loads((out / "config.json").read_text())
    assert config["replicas"] == 2 and config["backend"] == "jax"
    assert (out / "model.keras").is_file()
