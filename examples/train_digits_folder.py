"""Write scikit-learn's digits as a class-per-folder PNG tree, then train on that folder.

    python examples/train_digits_folder.py [WORK_DIR]

It is the same as::

    shapetrace train WORK_DIR/digits --output WORK_DIR/run --overwrite
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from shapetrace.cli.app import main
from shapetrace.train.data import export_digits


def run(work: Path) -> None:
    images = work / "digits"
    if not images.exists():
        count = export_digits(images)
        print(f"wrote {count} PNGs to {images}/<digit>/NNNN.png")
    main(["train", str(images), "--output", str(work / "run"), "--overwrite"])


if __name__ == "__main__":
    run(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="shapetrace-digits-")))
