"""``--distribute multi-worker``: real ``MultiWorkerMirroredStrategy`` workers on loopback.

Keras 3's ``fit`` cannot run under that strategy (keras-team/keras#20585), so the multi-worker
path trains with a custom loop; these tests launch real worker processes (CPU only, 127.0.0.1)
and check the run folder it leaves, exactly as for the single-machine path.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from train_support import OUTPUTS, TINY

# Every test here trains (a one-worker cluster is a full custom-loop run, about a minute on two
# cores): slow, run in CI's second step. The default run keeps one real training run
# (tests/test_train_cli.py) and every refusal that needs no training.
pytestmark = pytest.mark.slow


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def launch_workers(n: int, args: list, tmp_path: Path, timeout: float) -> list[tuple[int, str, str]]:
    """Start ``shapetrace train ARGS`` as ``n`` workers of one loopback cluster; (code, stdout, stderr) each."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(n)]}
    procs = []
    for index in range(n):
        scratch = tmp_path / f"tmp-{index}"  # a non-chief worker's temporary run folder lands here
        scratch.mkdir()
        env = dict(
            os.environ,
            TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
            TMPDIR=str(scratch),
            CUDA_VISIBLE_DEVICES="-1",
            TF_CPP_MIN_LOG_LEVEL="3",
            NO_COLOR="1",
        )
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "shapetrace", "train", *map(str, args)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    results = []
    try:
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=timeout)
            results.append((proc.returncode, stdout, stderr))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    return results


def history(out: Path) -> list[dict]:
    with (out / "history.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def check_run_folder(out: Path, replicas: int) -> list[dict]:
    for name in OUTPUTS:
        assert (out / name).is_file(), name
    assert not [p for p in out.rglob(".*") if p.is_file()], "temporary files left behind"
    rows = history(out)
    assert [int(r["epoch"]) for r in rows] == [1]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert np.isfinite(float(rows[0][key])), key
    config = json.loads((out / "config.json").read_text())
    assert config["replicas"] == replicas and config["config"]["distribute"] == "multi-worker"
    state = json.loads((out / "state.json").read_text())
    assert state["finished"] is True and state["epochs_completed"] == 1
    metrics = json.loads((out / "metrics.json").read_text())
    confusion = np.asarray(metrics["final"]["confusion_matrix"])
    assert confusion.sum() == 7  # every validation image was evaluated once
    return rows


@pytest.fixture(scope="module")
def single(tree, tmp_path_factory):
    """One tiny run in a one-worker cluster (TF_CONFIG): the multi-worker loop end to end."""
    tmp_path = tmp_path_factory.mktemp("single")
    out = tmp_path / "run"
    args = [tree, *TINY, "--distribute", "multi-worker", "--output", out]
    [(code, stdout, stderr)] = launch_workers(1, args, tmp_path, timeout=240)
    assert code == 0, stderr[-3000:]
    return tmp_path, out, args, stdout


def interrupted_copy(single, tmp_path):
    """A copy of the finished 1-epoch run made to look interrupted after epoch 1 of 2.

    Returns the copy, its first history row, and the command-line arguments that resume it.
    """
    _, finished, args, _ = single
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    config = json.loads((out / "config.json").read_text())
    config["config"]["epochs"] = 2
    (out / "config.json").write_text(json.dumps(config))
    state = json.loads((out / "state.json").read_text())
    (out / "state.json").write_text(json.dumps({**state, "finished": False}))
    resumed = [out if a == finished else a for a in args]
    resumed[resumed.index("--epochs") + 1] = "2"
    return out, history(out)[0], resumed


def test_single_worker_cluster_trains_with_the_custom_loop_and_writes_every_output(single):
    tmp_path, out, _, stdout = single
    assert "epoch 1/1" in stdout and "val_acc" in stdout and "best epoch" in stdout
    rows = check_run_folder(out, replicas=1)
    assert f"loss {float(rows[0]['loss']):.4f}" in stdout  # the epoch line shows what history.csv holds
    assert not list((tmp_path / "tmp-0").glob("shapetrace-worker-*")), "the chief wrote outside --output"


def test_interrupted_multi_worker_run_resumes_without_gap(single, tmp_path):
    """A copy of the run made to look interrupted after epoch 1 of 2 resumes with epoch 2 only."""
    out, first, resumed = interrupted_copy(single, tmp_path)
    [(code, stdout, stderr)] = launch_workers(1, resumed, tmp_path, timeout=240)
    assert code == 0, stderr[-3000:]
    rows = history(out)
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert rows[0] == first, "the completed epoch was retrained or rewritten"
    assert "epoch 2/2" in stdout and "epoch 1/2" not in stdout
    assert json.loads((out / "state.json").read_text())["finished"] is True


def test_two_workers_on_loopback_train_in_step_and_only_the_chief_writes_the_run(tree, tmp_path):
    out = tmp_path / "run"
    results = launch_workers(
        2, [tree, *TINY, "--distribute", "multi-worker", "--output", out], tmp_path, timeout=300
    )
    for index, (code, _, stderr) in enumerate(results):
        assert code == 0, f"worker {index}: {stderr[-3000:]}"
    rows = check_run_folder(out, replicas=2)
    assert "batch 16 over 2 replicas" in results[0][1]
    # both workers printed the same (globally reduced) epoch figures
    epoch_lines = [
        [
            line.rsplit(maxsplit=1)[0] for line in stdout.splitlines() if line.startswith("epoch 1/1")
        ]  # minus the time
        for _, stdout, _ in results
    ]
    assert epoch_lines[0] == epoch_lines[1] and len(epoch_lines[0]) == 1
    assert f"loss {float(rows[0]['loss']):.4f}" in epoch_lines[0][0]
    # worker 1 trained in step: its private copy has exactly the chief's weights
    [other] = list((tmp_path / "tmp-1").glob("shapetrace-worker-*"))
    assert not list((tmp_path / "tmp-0").glob("shapetrace-worker-*"))
    from shapetrace.tracing._keras_graph import keras

    chief = keras.models.load_model(out / "model.keras")
    worker = keras.models.load_model(other / "model.keras")
    for a, b in zip(chief.weights, worker.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=a.path)


def test_a_refused_run_folder_stops_every_worker_with_one_line(single, tmp_path):
    """The chief refuses a finished run (no --overwrite); the other worker must not wait for it forever."""
    _, finished, args, _ = single
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    before = sorted(p.name for p in out.rglob("*"))
    results = launch_workers(2, [out if a == finished else a for a in args], tmp_path, timeout=180)
    for code, _, stderr in results:
        assert code == 2, stderr[-3000:]
        assert "already holds a finished run" in stderr and "--overwrite" in stderr
        assert len(stderr.strip().splitlines()) == 1, stderr
    assert sorted(p.name for p in out.rglob("*")) == before


def test_two_workers_resume_an_interrupted_run_together(single, tmp_path):
    """Both workers pick up the chief's completed epoch (shared --output) and train only epoch 2."""
    out, first, resumed = interrupted_copy(single, tmp_path)
    results = launch_workers(2, resumed, tmp_path, timeout=300)
    for index, (code, stdout, stderr) in enumerate(results):
        assert code == 0, f"worker {index}: {stderr[-3000:]}"
        assert "epoch 2/2" in stdout and "epoch 1/2" not in stdout
    rows = history(out)
    assert [int(r["epoch"]) for r in rows] == [1, 2] and rows[0] == first
