"""Issue 9's training cases: hostile or careless input ends in one line, and nothing is left behind.

Every file is crafted here: a 60000×60000 PNG, TIFF images, an empty class folder, a full disk
(ENOSPC injected into the writer), the temporaries of a process killed mid-save.
"""

from __future__ import annotations

import errno
import json
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image
from train_support import TINY, digest, write_image_tree

from shapetrace.train.data import scan_folder
from shapetrace.train.outputs import RunFolder


def huge_png(path: Path, side: int = 60000) -> Path:
    """A valid 1-bit grayscale PNG of side × side black pixels (a few hundred kB on disk)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte + packed bits
    packer = zlib.compressobj(9)
    block = row * 1000
    data = b"".join(packer.compress(block) for _ in range(side // 1000)) + packer.compress(
        row * (side % 1000)
    )
    data += packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )
    return path


def refused(cli, tmp_path: Path, data: Path) -> str:
    """Run ``shapetrace train DATA`` expecting exit 2 and one stderr line; nothing may be written."""
    out = tmp_path / "run"
    before = digest(data)
    code, stdout, stderr = cli("train", data, *TINY, "--output", out)
    assert code == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr and "internal error" not in stderr
    assert not out.exists() and digest(data) == before
    return lines[0]


def test_a_decompression_bomb_png_is_one_line_exit_two(cli, tmp_path):
    data = write_image_tree(tmp_path / "data", classes=2, per_class=3)
    bomb = huge_png(data / "class_1" / "huge.png")
    line = refused(cli, tmp_path, data)
    assert line == (
        f"error: Image {str(bomb)!r} has 3,600,000,000 pixels, more than the 178,956,970 Pillow decodes "
        "(it refuses larger images as possible decompression bombs): downscale it or remove it from "
        "DATA_DIR, and rerun."
    )


def test_tiff_images_are_named_as_unsupported_not_as_non_image_files(cli, tmp_path):
    data = write_image_tree(tmp_path / "data", classes=2, per_class=3)
    Image.new("L", (16, 16), 128).save(data / "class_0" / "scan.tiff")
    Image.new("L", (16, 16), 64).save(data / "class_1" / "scan.tif")
    line = refused(cli, tmp_path, data)
    assert line == (
        f"error: DATA_DIR {str(data)!r} holds 2 TIFF images ('class_0/scan.tiff', 'class_1/scan.tif'), a "
        "format shapetrace train cannot decode (it reads .bmp, .gif, .jpeg, .jpg, .png): convert them to "
        "PNG or move them out of DATA_DIR, and rerun."
    )
    assert "non-image" not in line


def test_an_empty_class_folder_is_reported(tmp_path):
    data = write_image_tree(tmp_path / "data", classes=2, per_class=3)
    (data / "class_empty").mkdir()
    (data / "notes_only").mkdir()
    (data / "notes_only" / "README.txt").write_text("no images here")
    folder = scan_folder(data)
    assert folder.class_names == ("class_0", "class_1")
    assert folder.empty_classes == ("class_empty", "notes_only")
    from shapetrace.render.train import _data_notes
    from shapetrace.train.data import DataInfo

    info = DataInfo(
        source=str(data),
        images=6,
        train=4,
        val=2,
        class_names=folder.class_names,
        empty_classes=folder.empty_classes,
    )
    assert "2 class folders without images ignored (class_empty, notes_only)" in _data_notes(info)
    assert info.to_dict()["empty_classes"] == ["class_empty", "notes_only"]


def test_fewer_than_two_classes_with_images_is_refused_naming_the_empty_ones(cli, tmp_path):
    data = write_image_tree(tmp_path / "data", classes=1, per_class=4)
    (data / "dog").mkdir()
    line = refused(cli, tmp_path, data)
    assert line == (
        f"error: DATA_DIR {str(data)!r} has only one class with images ('class_0'; without images: 'dog'): "
        "a classifier needs at least 2 class folders with images."
    )


def test_run_folder_finds_only_its_own_temporaries(tmp_path):
    folder = RunFolder(tmp_path / "run")
    folder.checkpoints.mkdir(parents=True)
    ours = [
        folder.checkpoints / ".epoch-0003.k3j4h5_x.keras",  # kill -9 during a checkpoint save
        folder.root / ".state.json.ab12cd.tmp",
        folder.root / ".model.zz9y8x.keras",
        folder.root / ".best.keras.q1w2e3.tmp",
        folder.root / ".model.keras.1a2b3c4d.keras",  # fileio's names: .<name>.<random><suffix>
        folder.checkpoints / ".epoch-0004.keras.1a2b3c4d.keras",
        folder.root / ".history.csv.1a2b3c4d.tmp",
    ]
    theirs = [
        folder.root / ".notes",
        folder.checkpoints / "epoch-0002.keras",
        folder.root / ".epoch-0003.abc.keras",
    ]
    for path in ours + theirs:
        path.write_bytes(b"x")
    assert folder.remove_temporaries() == sorted(ours)
    assert all(not p.exists() for p in ours) and all(p.exists() for p in theirs)


def _interrupt_after_first_epoch(monkeypatch):
    """Make the second checkpoint save die mid-write, as ``kill -9`` would: the temporary stays."""
    from shapetrace.train import outputs

    real = outputs.atomic_save_model
    calls = []

    def killed(model, path):
        calls.append(path)
        if path.name.startswith("epoch-0002"):
            (path.parent / f".{path.stem}.k1ll3d.keras").write_bytes(b"PK\x03\x04 half a zip")
            raise KeyboardInterrupt  # the process stops here; nothing cleans up
        real(model, path)

    monkeypatch.setattr("shapetrace.train.run.atomic_save_model", killed)


@pytest.mark.slow
def test_resume_removes_the_temporary_of_a_checkpoint_save_that_was_killed(cli, tmp_path, monkeypatch):
    data = write_image_tree(tmp_path / "data", classes=2, per_class=8)
    out = tmp_path / "run"
    args = ["train", data, *TINY[:-4], "--epochs", "2", "--batch-size", "16", "--output", out]
    with monkeypatch.context() as patch:
        _interrupt_after_first_epoch(patch)
        code, _, _ = cli(*args)
    assert code == 130
    leftover = out / "checkpoints" / ".epoch-0002.k1ll3d.keras"
    assert leftover.exists() and json.loads((out / "state.json").read_text())["epochs_completed"] == 1
    code, stdout, stderr = cli(*args)  # the same command resumes
    assert code == 0, stderr
    assert "1 of 2 epochs already done" in stdout
    assert not [p.name for p in out.rglob(".*")], "temporaries left behind"


@pytest.mark.slow
def test_a_full_disk_is_one_line_and_the_run_stays_resumable(cli, tmp_path, monkeypatch):
    from shapetrace.tracing._keras_graph import keras

    data = write_image_tree(tmp_path / "data", classes=2, per_class=8)
    out = tmp_path / "run"
    args = ["train", data, *TINY[:-4], "--epochs", "2", "--batch-size", "16", "--output", out]
    real_save = keras.Model.save

    def full_on_second_checkpoint(self, filepath, *rest, **kwargs):
        if Path(filepath).parent.name == "checkpoints" and ".epoch-0002." in Path(filepath).name:
            Path(filepath).write_bytes(b"PK\x03\x04 the first bytes fit")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(self, filepath, *rest, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(keras.Model, "save", full_on_second_checkpoint)
        code, stdout, stderr = cli(*args)
    assert code == 2
    assert stderr.strip().splitlines() == [
        f"error: No space left on device writing to {str(out)!r}: training stopped; 1 completed epoch is "
        "saved. Free some space and rerun the same command to resume from epoch 2."
    ]
    assert json.loads((out / "state.json").read_text())["epochs_completed"] == 1
    assert not [p.name for p in out.rglob(".*")], "the failed write left a temporary"
    code, stdout, stderr = cli(*args)
    assert code == 0, stderr
    assert "1 of 2 epochs already done" in stdout
    assert json.loads((out / "state.json").read_text())["finished"] is True


# --------------------------------------------------------------------------- issue 22: run folders


def _run_folder_with(tmp_path: Path, state: object, history: str | None = None) -> RunFolder:
    folder = RunFolder(tmp_path / "run")
    folder.checkpoints.mkdir(parents=True)
    (folder.checkpoints / "epoch-0001.keras").write_bytes(b"x")
    folder.path("config").write_text(json.dumps({"schema": "shapetrace.train/1", "config": {}}))
    folder.path("state").write_text(json.dumps(state))
    if history is not None:
        folder.path("history").write_text(history)
    return folder


@pytest.mark.parametrize(
    ("state", "needle"),
    [
        ([1, 2], "expected a JSON object"),
        ({"epochs_completed": "3"}, "epochs_completed is '3'"),
        ({"epochs_completed": -1}, "epochs_completed is -1"),
        ({"epochs_completed": True}, "epochs_completed is True"),
        ({"finished": "no"}, "finished is 'no'"),
        ({"checkpoint": ["x"]}, "checkpoint is"),
        ({"checkpoint": "/etc/passwd"}, "not a file of this run"),
        ({"checkpoint": "checkpoints/../../evil.keras"}, "not a file of this run"),
        ({"checkpoint": "checkpoints/epoch-0009.keras"}, "missing"),
    ],
)
def test_a_hand_edited_state_is_refused_before_anything_loads(tmp_path, state, needle):
    from shapetrace.errors import UsageError

    folder = _run_folder_with(tmp_path, state)
    with pytest.raises(UsageError, match="is damaged") as caught:
        folder.stored()
    assert needle in str(caught.value)


def test_a_checkpoint_that_is_a_link_out_of_the_folder_is_refused(tmp_path):
    from shapetrace.errors import UsageError

    folder = _run_folder_with(tmp_path, {"epochs_completed": 1, "checkpoint": "checkpoints/epoch-0002.keras"})
    outside = tmp_path / "outside.keras"
    outside.write_bytes(b"x")
    (folder.checkpoints / "epoch-0002.keras").symlink_to(outside)
    with pytest.raises(UsageError, match="not a regular file"):
        folder.stored()
    good = _run_folder_with(
        tmp_path / "b", {"epochs_completed": 1, "checkpoint": "checkpoints/epoch-0001.keras"}
    )
    assert good.stored()[1] == {"epochs_completed": 1, "checkpoint": "checkpoints/epoch-0001.keras"}


@pytest.mark.parametrize(
    "history",
    [
        "epoch,phase,loss\nnot-a-number,train,1\n",
        "epoch,phase,loss\n1,train,lots\n",
        "epoch,loss\n1,0.5\n",
        "\x00\x00\n1\n",
    ],
)
def test_a_hand_edited_history_is_one_line(tmp_path, history):
    from shapetrace.errors import UsageError

    folder = _run_folder_with(tmp_path, {"epochs_completed": 1}, history)
    with pytest.raises(UsageError, match="history.csv.*is damaged"):
        folder.read_history()


def test_a_second_train_on_the_same_folder_is_refused_while_the_first_holds_it(tmp_path):
    from shapetrace.errors import UsageError
    from shapetrace.train.outputs import LOCK

    folder = RunFolder(tmp_path / "run")
    with folder.locked():
        assert folder.is_empty()  # the lock alone is no run
        with pytest.raises(UsageError, match="in use by another `shapetrace train`"):
            with RunFolder(tmp_path / "run").locked():
                pass
    assert not (folder.root / LOCK).exists()
    with folder.locked():  # released: the next run takes it
        pass
