"""Training data: the bundled digits or a class-per-folder tree, as batches for ``model.fit``.

On TensorFlow the batches come from tf.data pipelines; on JAX and PyTorch from a
``keras.utils.PyDataset`` over images decoded once into memory (Pillow and NumPy: nothing
imports TensorFlow). Both read the same files the same way: decoded to RGB, converted to
grayscale with TensorFlow's weights for ``channels=1``, resized bilinearly with half-pixel
centres (TensorFlow's ``tf.image.resize``), rounded to 0–255, cast to float32 per batch, shuffled
with ``seed`` every epoch.

Folder policy (documented in docs/train.md):

* one sub-folder per class; files directly in DATA_DIR are ignored; class folders without images
  are named in the report (and training needs at least 2 classes with images);
* files whose extension is not an image format TensorFlow decodes (bmp, gif, jpeg, png) are
  skipped and counted — except images in formats Pillow knows but the pipeline cannot decode
  (TIFF, WebP): those are refused by name rather than quietly left out;
* an image larger than Pillow's decompression-bomb limit is refused by name;
* every image is opened and fully decoded once before training: a corrupt image is fatal and
  named (exit 2), because silently training on fewer images than the folder shows hides a
  broken export;
* mixed modes (L, RGB, RGBA, P, 16-bit …) and mixed sizes are fine: each image is decoded to RGB,
  converted to grayscale for ``channels=1`` (alpha dropped), and resized to the model's input size.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from shapetrace.errors import UsageError

if TYPE_CHECKING:
    import tensorflow as tf

    from shapetrace.train.config import TrainConfig

__all__ = [
    "IMAGE_EXTENSIONS",
    "DataInfo",
    "Folder",
    "scan_folder",
    "load_digits_images",
    "stratified_split",
    "make_pipeline",
    "make_batches",
    "resize_bilinear",
    "decode_images",
    "Datasets",
    "load_datasets",
]

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
"""What ``tf.io.decode_image`` reads (the same allow-list as ``image_dataset_from_directory``)."""
UNSUPPORTED_IMAGES = {".tif": "TIFF", ".tiff": "TIFF", ".webp": "WebP"}
"""Image formats a user may well mean to train on, which ``tf.io.decode_image`` cannot read."""
_EXAMPLES = 3


@dataclass(frozen=True)
class Folder:
    """A scanned class-per-folder tree."""

    paths: tuple[str, ...]
    labels: tuple[int, ...]
    class_names: tuple[str, ...]
    skipped: tuple[str, ...]
    """Non-image files that were skipped (relative paths)."""
    empty_classes: tuple[str, ...]
    """Class folders without a single image (ignored, and reported)."""
    modes: dict[str, int]
    """PIL image modes seen, with counts (``{"L": 30, "RGB": 10}``)."""
    sizes: tuple[tuple[int, int], ...]
    """Distinct (height, width) seen, sorted."""


@dataclass(frozen=True)
class DataInfo:
    """What the run trains on, for the report and ``config.json``."""

    source: str
    images: int
    train: int
    val: int
    class_names: tuple[str, ...]
    skipped_files: int = 0
    skipped_examples: tuple[str, ...] = ()
    modes: dict[str, int] = field(default_factory=dict)
    distinct_sizes: int = 1
    empty_classes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "images": self.images,
            "train": self.train,
            "val": self.val,
            "class_names": list(self.class_names),
            "skipped_files": self.skipped_files,
            "skipped_examples": list(self.skipped_examples),
            "modes": dict(self.modes),
            "distinct_sizes": self.distinct_sizes,
            "empty_classes": list(self.empty_classes),
        }


def scan_folder(directory: str | Path) -> Folder:
    """List and check every image of a class-per-folder tree.

    Raises:
        UsageError: missing/empty folder, no class folders, fewer than 2 classes with images, an
            image in a format the pipeline cannot decode, a corrupt or oversized image.
    """
    root = Path(directory).expanduser()
    if not root.exists():
        raise UsageError(
            f"DATA_DIR {str(root)!r} does not exist: expected a folder with one sub-folder per class."
        )
    if not root.is_dir():
        raise UsageError(
            f"DATA_DIR {str(root)!r} is a file: expected a folder with one sub-folder per class."
        )
    entries = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    if not entries:
        raise UsageError(f"DATA_DIR {str(root)!r} is empty: expected one sub-folder of images per class.")
    class_dirs = [p for p in entries if p.is_dir()]
    if not class_dirs:
        raise UsageError(
            f"DATA_DIR {str(root)!r} has no class folders ({len(entries)} loose files): put each class's "
            "images in its own sub-folder, e.g. DATA_DIR/cat/1.png, DATA_DIR/dog/2.png."
        )
    paths: list[str] = []
    labels: list[int] = []
    names: list[str] = []
    skipped: list[str] = []
    modes: Counter[str] = Counter()
    sizes: set[tuple[int, int]] = set()
    empty: list[str] = []
    files_of = {d: sorted(f for f in d.rglob("*") if f.is_file()) for d in class_dirs}
    _refuse_unsupported(root, [f for files in files_of.values() for f in files])
    for class_dir in class_dirs:
        files = files_of[class_dir]
        images = [f for f in files if f.suffix.lower() in IMAGE_EXTENSIONS]
        skipped.extend(str(f.relative_to(root)) for f in files if f.suffix.lower() not in IMAGE_EXTENSIONS)
        # Pillow releases the GIL while decoding: check the images on a few threads, in order.
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            for file, (mode, size, error) in zip(images, pool.map(_inspect_image, images)):
                if error is not None:
                    raise UsageError(
                        error
                        if error.startswith("Image ")
                        else (
                            f"Corrupt image {str(file)!r} ({error}): corrupt images are fatal; fix or "
                            "remove the file and rerun."
                        )
                    )
                assert mode is not None and size is not None  # both known when there is no error
                modes[mode] += 1
                sizes.add(size)
        if not images:
            empty.append(class_dir.name)  # no class; reported, and counted against the 2 needed
            continue
        names.append(class_dir.name)
        paths.extend(str(f) for f in images)
        labels.extend([len(names) - 1] * len(images))
    without = f"; without images: {_names(empty)}" if empty else ""
    if not names:
        raise UsageError(
            f"DATA_DIR {str(root)!r} has class folders but no images in them ({len(skipped)} non-image "
            f"files skipped{without}): expected {', '.join(IMAGE_EXTENSIONS)} files."
        )
    if len(names) == 1:
        raise UsageError(
            f"DATA_DIR {str(root)!r} has only one class with images ({names[0]!r}{without}): a "
            "classifier needs at least 2 class folders with images."
        )
    return Folder(
        paths=tuple(paths),
        labels=tuple(labels),
        class_names=tuple(names),
        skipped=tuple(skipped),
        empty_classes=tuple(empty),
        modes=dict(sorted(modes.items())),
        sizes=tuple(sorted(sizes)),
    )


def _names(items: Sequence[str], limit: int = _EXAMPLES) -> str:
    shown = ", ".join(repr(i) for i in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _refuse_unsupported(root: Path, files: list[Path]) -> None:
    found = [f for f in files if f.suffix.lower() in UNSUPPORTED_IMAGES]
    if not found:
        return
    kinds = sorted({UNSUPPORTED_IMAGES[f.suffix.lower()] for f in found})
    raise UsageError(
        f"DATA_DIR {str(root)!r} holds {len(found)} {' and '.join(kinds)} image"
        f"{'s' if len(found) > 1 else ''} ({_names([str(f.relative_to(root)) for f in found])}), a format "
        f"shapetrace train cannot decode (it reads {', '.join(IMAGE_EXTENSIONS)}): convert them to PNG "
        "or move them out of DATA_DIR, and rerun."
    )


def _inspect_image(path: Path) -> tuple[str | None, tuple[int, int] | None, str | None]:
    """``(mode, (height, width), None)`` after a full decode, or ``(None, None, why)``."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()  # a full decode: truncated data fails here, not mid-epoch
            return image.mode, (image.height, image.width), None
    except Image.DecompressionBombError as error:
        # Pillow refuses before decoding (its limit guards against zip-bomb-like files).
        counts = [
            int(x) for pair in re.findall(r"\((\d+) pixels\)|limit of (\d+)", str(error)) for x in pair if x
        ]
        size = (
            f"{counts[0]:,} pixels, more than the {counts[1]:,}"
            if len(counts) == 2
            else "more pixels than the"
        )
        return (
            None,
            None,
            (
                f"Image {str(path)!r} has {size} Pillow decodes (it refuses larger images as possible "
                "decompression bombs): downscale it or remove it from DATA_DIR, and rerun."
            ),
        )
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        return None, None, f"{type(error).__name__}: {error}"


def load_digits_images(
    size: tuple[int, int], channels: int
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """scikit-learn's 1,797 bundled 8×8 digits as uint8 images of ``size`` (0–255, like a photo)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    gray = digits.images.astype("float32")[..., None] * (255.0 / 16.0)
    resized = resize_bilinear(gray, size)
    images = np.clip(np.rint(resized), 0, 255).astype("uint8")
    if channels == 3:
        images = np.repeat(images, 3, axis=-1)
    return images, digits.target.astype("int32"), tuple(str(n) for n in digits.target_names)


def resize_bilinear(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``tf.image.resize(images, size, "bilinear")`` in NumPy (half-pixel centres, edges clamped,
    no antialiasing), float32, on ``(N, H, W, C)`` or ``(H, W, C)`` arrays."""
    array = np.asarray(images, dtype="float32")
    single = array.ndim == 3
    if single:
        array = array[None]
    for axis, out in ((1, size[0]), (2, size[1])):
        n = array.shape[axis]
        position = (np.arange(out, dtype="float64") + 0.5) * (n / out) - 0.5
        floor = np.floor(position)
        lower = np.clip(floor, 0, n - 1).astype(int)
        upper = np.clip(np.ceil(position), 0, n - 1).astype(int)
        weight = (position - floor).astype("float32")
        shape = [1] * array.ndim
        shape[axis] = out
        weight = weight.reshape(shape)
        low, high = np.take(array, lower, axis=axis), np.take(array, upper, axis=axis)
        array = low + (high - low) * weight
    return array[0] if single else array


def stratified_split(labels: np.ndarray, val_split: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded per-class split: every class keeps its share in both parts.

    Raises:
        UsageError: when the fraction leaves either part empty.
    """
    labels = np.asarray(labels)
    n = len(labels)
    n_val = int(round(n * val_split))
    if n_val < 1 or n_val > n - 1:
        part = "validation" if n_val < 1 else "training"
        raise UsageError(
            f"val_split={val_split} leaves the {part} split empty ({n} images): choose a fraction "
            f"that keeps at least 1 image on each side (between {1 / n:.3g} and {1 - 1 / n:.3g}).",
            param="val_split",
        )
    rng = np.random.default_rng(seed)
    rank = np.empty(n, dtype="float64")
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        order = rng.permutation(len(members))
        # Spread each class evenly over [0, 1): the first n_val ranks are a proportional sample.
        rank[members[order]] = (np.arange(len(members)) + rng.uniform()) / len(members)
    ordered = np.argsort(rank, kind="stable")
    return np.sort(ordered[n_val:]), np.sort(ordered[:n_val])


def seeded_subset(labels: np.ndarray, limit: int | None, seed: int) -> np.ndarray:
    """Indices of a seeded, class-proportional subset of ``limit`` items (all when ``None``)."""
    n = len(labels)
    if limit is None or limit >= n:
        return np.arange(n)
    _, chosen = stratified_split(labels, limit / n, seed + 1)
    return chosen


def make_pipeline(
    source: np.ndarray,
    labels: np.ndarray,
    *,
    size: tuple[int, int],
    channels: int,
    batch_size: int,
    shuffle: bool,
    seed: int,
    from_files: bool,
) -> tf.data.Dataset:
    """tf.data: parallel decode + resize (files), uint8 cache, shuffle, batch, float cast, prefetch."""
    import tensorflow as tf

    autotune = tf.data.AUTOTUNE
    ds = tf.data.Dataset.from_tensor_slices((source, np.asarray(labels, dtype="int32")))
    if from_files:

        def decode(path: Any, label: Any) -> tuple[Any, Any]:
            raw = tf.io.read_file(path)
            image = tf.io.decode_image(raw, channels=3, expand_animations=False)
            if channels == 1:
                image = tf.image.rgb_to_grayscale(image)
            image = tf.image.resize(image, size, method="bilinear")
            image = tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)
            image.set_shape((size[0], size[1], channels))
            return image, label

        ds = ds.map(decode, num_parallel_calls=autotune, deterministic=True).cache()
    if shuffle:
        ds = ds.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).map(lambda x, y: (tf.cast(x, tf.float32), y), num_parallel_calls=autotune)
    return ds.prefetch(autotune)


_GRAY = np.array([0.2989, 0.5870, 0.1140], dtype="float32")
"""``tf.image.rgb_to_grayscale``'s weights."""


def decode_image(path: str, size: tuple[int, int], channels: int) -> np.ndarray:
    """One image file as ``(H, W, channels)`` uint8, the way the tf.data pipeline reads it."""
    from PIL import Image

    with Image.open(path) as image:
        image.seek(0)  # the first frame of an animated GIF, as tf.io.decode_image(expand_animations=False)
        if image.mode in ("I;16", "I;16B", "I;16L", "I"):
            # 16-bit to 8-bit by scaling (Pillow's convert would clip at 255)
            wide = np.asarray(image, dtype="float64")
            rgb = np.repeat(np.clip(np.rint(wide / 257.0), 0, 255).astype("uint8")[..., None], 3, axis=-1)
        else:
            rgb = np.asarray(image.convert("RGB"), dtype="uint8")
    pixels = rgb.astype("float32")
    if channels == 1:
        # TensorFlow converts to [0, 1], weighs the channels and converts back (x * 255.5, truncated)
        gray = (pixels / 255.0) @ _GRAY
        pixels = np.clip(np.floor(gray * 255.5), 0, 255)[..., None]
    resized = resize_bilinear(pixels, size)
    return np.clip(np.rint(resized), 0, 255).astype("uint8")


def decode_images(paths: Sequence[str], size: tuple[int, int], channels: int) -> np.ndarray:
    """Every file decoded once, on a few threads (Pillow releases the GIL), as ``(N, H, W, C)`` uint8."""
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        decoded = list(pool.map(lambda p: decode_image(p, size, channels), paths))
    if not decoded:
        return np.zeros((0, size[0], size[1], channels), dtype="uint8")
    return np.stack(decoded)


def make_batches(images: np.ndarray, labels: np.ndarray, *, batch_size: int, shuffle: bool, seed: int) -> Any:
    """A ``keras.utils.PyDataset`` of ``(float32 images, int32 labels)`` batches over uint8 images
    in memory, reshuffled (seeded) after every epoch: the pipeline on JAX and PyTorch.

    Shuffled (training) batches are all full: the last one is completed with the first images of
    the epoch's order, so one compiled train step serves every batch (a partial batch would
    compile the whole training step anew on JAX). Unshuffled (validation) batches are exact.
    """
    from shapetrace.tracing._keras_graph import keras

    class ArrayBatches(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__()  # one worker, no processes: the data is in memory already
            self.images = images
            self.labels = np.asarray(labels, dtype="int32")
            self.random = np.random.default_rng(seed)
            self.order = self.random.permutation(len(self.labels)) if shuffle else np.arange(len(self.labels))

        def __len__(self) -> int:
            return -(-len(self.labels) // batch_size)

        def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
            chosen = self.order[index * batch_size : (index + 1) * batch_size]
            if shuffle and len(chosen) < batch_size:
                chosen = np.concatenate([chosen, self.order[: batch_size - len(chosen)]])
            return self.images[chosen].astype("float32"), self.labels[chosen]

        def on_epoch_end(self) -> None:
            if shuffle:
                self.order = self.random.permutation(len(self.labels))

    return ArrayBatches()


@dataclass(frozen=True)
class Datasets:
    train: Any
    val: Any
    val_labels: np.ndarray
    info: DataInfo


def load_datasets(config: TrainConfig) -> Datasets:
    """The resolved config's data as train/validation pipelines (validation unshuffled)."""
    assert isinstance(config.size, tuple)  # resolved
    if config.is_digits:
        images, labels, names = load_digits_images(config.size, config.channels)
        chosen = seeded_subset(labels, config.limit, config.seed)
        images, labels = images[chosen], labels[chosen]
        source = images
        from_files = False
        info_extra: dict[str, Any] = {"modes": {"L": len(labels)}, "distinct_sizes": 1}
        origin = "scikit-learn digits (1,797 8×8 grayscale images)"
    else:
        folder = scan_folder(config.data)
        labels = np.asarray(folder.labels, dtype="int32")
        chosen = seeded_subset(labels, config.limit, config.seed)
        labels = labels[chosen]
        source = np.asarray(folder.paths)[chosen]
        names = folder.class_names
        from_files = True
        info_extra = {
            "modes": folder.modes,
            "distinct_sizes": len(folder.sizes),
            "skipped_files": len(folder.skipped),
            "skipped_examples": folder.skipped[:_EXAMPLES],
            "empty_classes": folder.empty_classes,
        }
        origin = config.data
    train_idx, val_idx = stratified_split(labels, config.val_split, config.seed)
    from shapetrace.tracing._keras_graph import backend_name

    if backend_name() == "tensorflow":
        common: dict[str, Any] = dict(
            size=config.size, channels=config.channels, batch_size=config.batch_size, from_files=from_files
        )
        train = make_pipeline(source[train_idx], labels[train_idx], shuffle=True, seed=config.seed, **common)
        val = make_pipeline(source[val_idx], labels[val_idx], shuffle=False, seed=config.seed, **common)
    else:
        images = decode_images(list(source), config.size, config.channels) if from_files else source
        train = make_batches(
            images[train_idx], labels[train_idx], batch_size=config.batch_size, shuffle=True, seed=config.seed
        )
        val = make_batches(
            images[val_idx], labels[val_idx], batch_size=config.batch_size, shuffle=False, seed=config.seed
        )
    info = DataInfo(
        source=origin,
        images=len(labels),
        train=len(train_idx),
        val=len(val_idx),
        class_names=tuple(names),
        **info_extra,
    )
    return Datasets(train=train, val=val, val_labels=labels[val_idx], info=info)


def export_digits(root: str | Path, *, scale: int = 4) -> int:
    """Write the bundled digits as a class-per-folder PNG tree (``root/3/0042.png``).

    Args:
        root: the folder to create (must not exist or be empty).
        scale: nearest-neighbour upscaling of the 8×8 originals (4 → 32×32 PNGs).

    Returns:
        The number of images written.
    """
    from PIL import Image
    from sklearn.datasets import load_digits

    root = Path(root)
    if root.exists() and any(root.iterdir()):
        raise UsageError(f"{str(root)!r} is not empty: choose a new folder for the exported digits.")
    digits = load_digits()
    pixels = np.clip(np.rint(digits.images * (255.0 / 16.0)), 0, 255).astype("uint8")
    for index, (image, label) in enumerate(zip(pixels, digits.target)):
        folder = root / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        big = np.kron(image, np.ones((scale, scale), dtype="uint8"))
        Image.fromarray(big, mode="L").save(folder / f"{index:04d}.png")
    return len(pixels)
