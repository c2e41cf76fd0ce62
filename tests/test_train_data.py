"""``shapetrace.train.data``: folder scanning, the tf.data pipeline, the split, and bad folders."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from train_support import write_image_tree

from shapetrace.errors import UsageError
from shapetrace.train.data import make_pipeline, scan_folder, stratified_split


def test_scan_counts_classes_modes_sizes_and_skips_non_images(tmp_path):
    root = write_image_tree(tmp_path / "data", classes=3, per_class=8)
    (root / "class_0" / "notes.txt").write_text("not an image")
    (root / "class_2" / "labels.csv").write_text("a,b\n")
    (root / "README.md").write_text("loose file at the top: ignored")
    folder = scan_folder(root)
    assert folder.class_names == ("class_0", "class_1", "class_2")
    assert len(folder.paths) == 24 and folder.labels.count(1) == 8
    assert sorted(folder.skipped) == ["class_0/notes.txt", "class_2/labels.csv"]
    assert set(folder.modes) == {"L", "RGB", "RGBA", "P"} and sum(folder.modes.values()) == 24
    assert len(folder.sizes) == 3


def test_pipeline_reads_rgb_and_gray_files_as_one_gray_channel(tmp_path):
    red = np.zeros((10, 14, 3), dtype="uint8")
    red[..., 0] = 200
    Image.fromarray(red, mode="RGB").save(tmp_path / "red.png")
    Image.fromarray(np.full((30, 30), 77, dtype="uint8"), mode="L").save(tmp_path / "gray.png")
    Image.fromarray(np.full((8, 8), 150, dtype="uint8"), mode="L").convert("RGBA").save(tmp_path / "rgba.png")
    paths = np.asarray([str(tmp_path / n) for n in ("red.png", "gray.png", "rgba.png")])
    ds = make_pipeline(
        paths, [0, 1, 2], size=(32, 32), channels=1, batch_size=3, shuffle=False, seed=0, from_files=True
    )
    images, labels = next(iter(ds))
    assert images.shape == (3, 32, 32, 1) and images.dtype.name == "float32"
    assert labels.numpy().tolist() == [0, 1, 2]
    values = images.numpy()
    # ITU-R 601 luma of pure red 200 is 0.2989 * 200; gray and RGBA gray keep their level.
    assert abs(values[0].mean() - 0.2989 * 200) < 1.0
    assert abs(values[1].mean() - 77) < 1.0 and abs(values[2].mean() - 150) < 1.0
    rgb = make_pipeline(
        paths, [0, 1, 2], size=(32, 32), channels=3, batch_size=3, shuffle=False, seed=0, from_files=True
    )
    images3, _ = next(iter(rgb))
    assert images3.shape == (3, 32, 32, 3)
    assert abs(images3.numpy()[0, ..., 0].mean() - 200) < 1.0 and images3.numpy()[0, ..., 1].max() == 0


def test_stratified_split_is_seeded_proportional_and_disjoint():
    labels = np.repeat(np.arange(4), [50, 30, 12, 8])
    train, val = stratified_split(labels, 0.25, seed=3)
    assert len(val) == 25 and len(train) == 75 and not set(train) & set(val)
    counts = np.bincount(labels[val], minlength=4)
    assert np.all(np.abs(counts - np.array([50, 30, 12, 8]) * 0.25) <= 1)
    again_train, again_val = stratified_split(labels, 0.25, seed=3)
    assert np.array_equal(val, again_val) and np.array_equal(train, again_train)
    _, other = stratified_split(labels, 0.25, seed=4)
    assert not np.array_equal(val, other)


@pytest.mark.parametrize("fraction", [0.001, 0.999])
def test_split_that_leaves_a_side_empty_is_refused(fraction):
    with pytest.raises(UsageError, match="leaves the (validation|training) split empty"):
        stratified_split(np.repeat([0, 1], 20), fraction, seed=0)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda root: None, "does not exist"),
        (lambda root: root.mkdir(), "is empty"),
        (lambda root: (root.mkdir(), (root / "a.png").write_bytes(b"x")), "has no class folders"),
        (lambda root: write_image_tree(root, classes=1, per_class=3), "only one class"),
        (
            lambda root: (root.mkdir(), (root / "a").mkdir(), (root / "a" / "x.txt").write_text("x")),
            "no images",
        ),
    ],
    ids=["missing", "empty", "no-class-folders", "one-class", "only-non-images"],
)
def test_bad_folders_are_one_clear_line(tmp_path, make, message):
    root = tmp_path / "data"
    make(root)
    with pytest.raises(UsageError, match=message) as info:
        scan_folder(root)
    assert "\n" not in str(info.value)


def test_corrupt_image_is_fatal_and_named(tmp_path):
    root = write_image_tree(tmp_path / "data", classes=2, per_class=3)
    good = (root / "class_1" / "000.png").read_bytes()
    (root / "class_1" / "broken.png").write_bytes(good[: len(good) // 2])  # truncated PNG
    with pytest.raises(UsageError, match=r"Corrupt image .*broken\.png.*fatal"):
        scan_folder(root)
