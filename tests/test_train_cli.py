"""``shapetrace train`` end to end: a tiny real run, its outputs, refusals and every bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import run_cli
from train_support import OUTPUTS, TINY, digest


@pytest.fixture(scope="module")
def tree(tree) -> Path:
    """The shared image folder (conftest) with a file that is not an image in it."""
    (tree / "class_1" / "notes.txt").write_text("not an image: skipped and counted")
    return tree


@pytest.fixture(scope="module")
def finished(tree, tmp_path_factory):
    """One tiny real run (smallest model, 32×32, 36 images of mixed modes and sizes, 1 epoch)."""
    out = tmp_path_factory.mktemp("runs") / "tiny"
    code, stdout, stderr = run_cli("train", tree, *TINY, "--output", out)
    assert code == 0, stderr
    return out, stdout


def test_tiny_run_prints_the_verdict_first_then_epochs_then_a_summary(finished):
    _, stdout = finished
    trace_at = stdout.index("trace  ")
    epoch_at = stdout.index("epoch 1/1")
    assert trace_at < epoch_at < stdout.index("best epoch")
    assert "1 channel" in stdout[trace_at:epoch_at] and "repeat_gray" in stdout[trace_at:epoch_at]
    assert "1 non-image files skipped (class_1/notes.txt)" in stdout
    assert "modes L×" in stdout and "3 different image sizes" in stdout
    assert "29 train / 7 validation, 3 classes" in stdout


def test_tiny_run_writes_every_output(finished):
    out, _ = finished
    for name in OUTPUTS:
        assert (out / name).is_file(), name
    assert not [p for p in out.rglob(".*") if p.is_file()], "temporary files left behind"
    history = (out / "history.csv").read_text().splitlines()
    assert history[0].startswith("epoch,phase,loss,accuracy,val_loss,val_accuracy") and len(history) == 2
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["classes"] == ["class_0", "class_1", "class_2"]
    confusion = metrics["final"]["confusion_matrix"]
    assert sum(map(sum, confusion)) == 7 and len(confusion) == 3
    assert set(metrics["final"]["per_class_accuracy"]) == {"class_0", "class_1", "class_2"}
    diagonal = sum(confusion[i][i] for i in range(3))
    assert metrics["final"]["accuracy_recomputed"] == pytest.approx(diagonal / 7)
    trace = json.loads((out / "trace.json").read_text())
    assert trace["schema"] == "shapetrace.trace/1" and trace["verdict"] == "ok"
    assert trace["probes"][0]["shape"] == [1, 32, 32, 1]
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["model"] == "mobilenetv3small" and config["data"]["skipped_files"] == 1
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "state.json").read_text())["finished"] is True


def test_existing_run_is_never_overwritten_without_overwrite(cli, finished, tree):
    out, _ = finished
    before = digest(out)
    code, _, stderr = cli("train", tree, *TINY, "--output", out)
    assert code == 2 and "already holds a finished run" in stderr and "--overwrite" in stderr
    assert digest(out) == before
    foreign = out.parent / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    code, _, stderr = cli("train", tree, *TINY, "--output", foreign, "--overwrite")
    assert code == 2 and "not a shapetrace run folder" in stderr
    assert (foreign / "thesis.tex").read_text() == "precious"


def _bad_folder(kind: str, root: Path, tree: Path) -> Path:
    if kind == "missing":
        return root / "nope"
    root.mkdir()
    if kind == "no-class-folders":
        (root / "a.png").write_bytes((tree / "class_0" / "000.png").read_bytes())
    if kind == "one-class":
        shutil.copytree(tree / "class_0", root / "only")
    if kind == "corrupt":
        shutil.copytree(tree, root, dirs_exist_ok=True)
        (root / "class_2" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    return root


@pytest.mark.parametrize(
    "kind, extra, message",
    [
        ("missing", [], "does not exist"),
        ("empty", [], "is empty"),
        ("no-class-folders", [], "has no class folders"),
        ("one-class", [], "only one class"),
        ("corrupt", [], "Corrupt image .*bad.png"),
        ("good", ["--val-split", "0"], "strictly between 0 and 1"),
        ("good", ["--val-split", "1.5"], "strictly between 0 and 1"),
        ("good", ["--val-split", "0.01"], "leaves the validation split empty"),
        ("good", ["--size", "16x16"], "below MobileNetV3Small's minimum"),
        ("good", ["--fine-tune-epochs", "2"], "needs pretrained weights"),
        ("good", ["--weights", "missing.weights.h5"], "does not exist"),
        ("good", ["--channels", "2"], "1 \\(grayscale\\) or 3"),
        ("good", ["--model", "resnet5"], "Unknown model"),
        ("good", ["--distribute", "multi-worker"], "needs TF_CONFIG"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_loses_nothing(cli, finished, tree, tmp_path, kind, extra, message):
    """Even with --overwrite pointing at a finished run, a bad input clears nothing."""
    import re

    out, _ = finished
    before = digest(out)
    data = tree if kind == "good" else _bad_folder(kind, tmp_path / "data", tree)
    code, stdout, stderr = cli("train", data, *TINY, *extra, "--output", out, "--overwrite")
    assert code == 2, stderr
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr
    assert re.search(message, stderr), stderr
    assert digest(out) == before


def test_unwritable_output_is_refused_before_anything_is_written(cli, tree, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    code, _, stderr = cli("train", tree, *TINY, "--output", blocker / "run")
    assert code == 2 and "Cannot write to --output" in stderr and len(stderr.strip().splitlines()) == 1
    assert blocker.read_text() == "x"


def test_imagenet_download_failure_points_to_a_local_file(cli, tree, tmp_path):
    out = tmp_path / "run"
    code, _, stderr = cli("train", tree, *TINY, "--weights", "imagenet", "--output", out)
    assert code == 2 and "Traceback" not in stderr
    assert "Could not download the ImageNet weights" in stderr and "--weights path/to/weights.h5" in stderr
    assert not out.exists()


def test_broadcast_refusal_shows_the_break_and_suggests_repeat(cli, tree, tmp_path):
    out = tmp_path / "run"
    code, stdout, stderr = cli(
        "train", tree, "--model", "resnet50", "--size", "32", "--adapt", "broadcast", "--output", out
    )
    assert code == 2
    assert "conv1_conv" in stdout  # the break row
    assert "does not accept 1 channel" in stderr and "--adapt repeat" in stderr
    assert len(stderr.strip().splitlines()) == 1 and not out.exists()
