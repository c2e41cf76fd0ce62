"""Interrupted runs resume with no lost or duplicated epoch; NaN keeps the last good checkpoint;
``--distribute mirrored`` really trains on 2 logical CPU devices."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import run_fresh

from shapetrace.errors import UsageError
from shapetrace.tracing._keras_graph import keras
from shapetrace.train import TrainConfig, train
from shapetrace.train.run import TrainingDiverged

# Every test here is a real training run (resume, NaN, mirrored, kill, Ctrl-C: 30-60 s each on two
# cores): slow, run in CI's second step. The default run keeps one real training run
# (tests/test_train_cli.py) and the refusals that need no training.
pytestmark = pytest.mark.slow

TINY = dict(model="mobilenetv3small", size=(32, 32), batch_size=16, limit=40)


class InterruptAfter(keras.callbacks.Callback):
    """Simulates Ctrl-C right after epoch ``n`` (1-based) finished and was checkpointed."""

    def __init__(self, n: int):
        super().__init__()
        self.n = n

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.n:
            raise KeyboardInterrupt


def history_epochs(out: Path) -> list[int]:
    with (out / "history.csv").open() as handle:
        return [int(row["epoch"]) for row in csv.DictReader(handle)]


def test_interrupted_run_resumes_without_gap_or_duplicate(tmp_path):
    out = tmp_path / "run"
    config = TrainConfig(**TINY, epochs=3, output=str(out))
    with pytest.raises(KeyboardInterrupt):
        train(config, callbacks=[InterruptAfter(2)])
    state = json.loads((out / "state.json").read_text())
    assert state["epochs_completed"] == 2 and state["finished"] is False
    assert history_epochs(out) == [1, 2]
    assert not (out / "model.keras").exists()
    # A crash between writing the history and committing the state leaves an extra row: dropped.
    with (out / "history.csv").open("a") as handle:
        handle.write("3,train,9,0,9,0,0.001,1.0\n")
    kept = keras.models.load_model(out / state["checkpoint"])
    with pytest.raises(UsageError, match=r"interrupted run with different options \(lr, fine_tune_lr\)"):
        train(TrainConfig(**TINY, epochs=3, lr=0.1, output=str(out)))
    result = train(config)  # the same command again
    assert result.resumed_from == 2 and result.epochs == 3
    assert history_epochs(out) == [1, 2, 3]
    assert json.loads((out / "state.json").read_text())["finished"] is True
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["epoch-0003.keras"]
    # The resumed run continued from the saved weights and optimizer state, not from scratch.
    resumed = keras.models.load_model(out / "model.keras")
    assert int(resumed.optimizer.iterations.numpy()) == 3 * int(kept.optimizer.iterations.numpy()) // 2


class PoisonAt(keras.callbacks.Callback):
    """Turns a weight into NaN at the start of epoch ``n`` (1-based)."""

    def __init__(self, n: int):
        super().__init__()
        self.n = n

    def on_epoch_begin(self, epoch, logs=None):
        if epoch + 1 == self.n:
            head = self.model.get_layer("head")
            kernel = np.asarray(head.kernel)
            head.kernel.assign(np.full_like(kernel, np.nan))


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(
        TrainingDiverged, match=r"NaN/inf in epoch 2 .*kept the last good checkpoint .*epoch-0001\.keras"
    ):
        train(TrainConfig(**TINY, epochs=3, output=str(out)), callbacks=[PoisonAt(2)])
    state = json.loads((out / "state.json").read_text())
    assert state["epochs_completed"] == 1 and history_epochs(out) == [1]
    good = keras.models.load_model(out / "checkpoints" / "epoch-0001.keras")
    assert np.isfinite(np.asarray(good.get_layer("head").kernel)).all()
    assert (out / "best.keras").is_file() and not (out / "model.keras").exists()


def test_mirrored_trains_on_two_logical_cpu_devices(tmp_path):
    out = tmp_path / "run"
    script = textwrap.dedent(f"""
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from shapetrace.cli.app import main
        main(["train", "--model", "mobilenetv3small", "--size", "32", "--limit", "40", "--epochs", "1",
              "--batch-size", "16", "--distribute", "mirrored", "--output", {str(out)!r}])
    """)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = run_fresh([script], module=False, env=env)
    assert done.code == 0, done.err[-2000:]
    assert "over 2 replicas" in done.out
    config = json.loads((out / "config.json").read_text())
    assert config["replicas"] == 2
    assert (out / "model.keras").is_file()


def wait_for_first_epoch(proc, out, timeout=300.0):
    """Poll until the run in ``out`` has committed an epoch (or the process ended); its state file."""
    import time

    state = out / "state.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if state.exists() and json.loads(state.read_text())["epochs_completed"] >= 1:
            break
        time.sleep(0.05)
    return state


def test_killed_process_resumes_when_the_same_command_runs_again(tmp_path):
    """A real SIGKILL mid-run (the callback test above covers the same logic in-process)."""
    import signal

    out = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "shapetrace",
        "train",
        "--model",
        "mobilenetv3small",
        "--size",
        "32",
        "--limit",
        "40",
        "--epochs",
        "4",
        "--batch-size",
        "8",
        "--output",
        str(out),
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    state = wait_for_first_epoch(proc, out)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = json.loads(state.read_text())["epochs_completed"]
    assert 1 <= done < 4
    rerun = run_fresh(command[3:], env=env)  # the same command again
    assert rerun.code == 0, rerun.err[-2000:]
    assert f"{done} of 4 epochs already done" in rerun.out
    assert history_epochs(out) == [1, 2, 3, 4]


def test_ctrl_c_says_how_to_resume(tmp_path):
    """SIGINT mid-run: exit 130, one line naming the last completed epoch and how to resume."""
    import signal

    out = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "shapetrace",
        "train",
        "--model",
        "mobilenetv3small",
        "--size",
        "32",
        "--limit",
        "40",
        "--epochs",
        "50",
        "--batch-size",
        "8",
        "--output",
        str(out),
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    # A runner started in the background (nohup, `&`) ignores SIGINT, and so would the child:
    # restore the default so that Python turns the signal into KeyboardInterrupt.
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    state = wait_for_first_epoch(proc, out)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    done = json.loads(state.read_text())["epochs_completed"]
    assert proc.returncode == 130
    assert f"interrupted after epoch {done}; rerun the same command to resume" in stderr
    assert "Traceback" not in stderr
    assert history_epochs(out) == list(range(1, done + 1))
