"""Shared helpers for the `shapetrace train` tests: image trees, the cheapest run, folder digests."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

TINY = ["--model", "mobilenetv3small", "--size", "32x32", "--epochs", "1", "--batch-size", "16"]
"""The cheapest real run: the smallest application at its minimum size, one epoch."""

OUTPUTS = (
    "model.keras",
    "best.keras",
    "history.csv",
    "metrics.json",
    "curves.png",
    "config.json",
    "trace.json",
    "state.json",
)
"""Every file a finished run leaves in its output folder."""


def write_image_tree(root: Path, classes: int = 3, per_class: int = 12, seed: int = 0) -> Path:
    """A class-per-folder tree of PNGs in mixed modes (L, RGB, RGBA, P) and mixed sizes.

    Each class has its own brightness pattern so a model can tell them apart.
    """
    from PIL import Image

    rng = np.random.default_rng(seed)
    modes = ("L", "RGB", "RGBA", "P")
    sizes = ((20, 20), (40, 32), (32, 48))
    for c in range(classes):
        folder = root / f"class_{c}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            h, w = sizes[i % len(sizes)]
            base = np.zeros((h, w), dtype="float64")
            base[:, : (c + 1) * w // (classes + 1)] = 200.0
            gray = np.clip(base + rng.normal(0, 20, (h, w)), 0, 255).astype("uint8")
            mode = modes[(i + c) % len(modes)]
            image = Image.fromarray(gray, mode="L")
            if mode != "L":
                image = image.convert(mode)
            image.save(folder / f"{i:03d}.png")
    return root


def digest(folder: Path) -> dict[str, str]:
    """Content hashes of every file under ``folder`` (to prove nothing was touched)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
