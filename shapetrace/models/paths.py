"""Paths as a person would type them: relative to a folder, ``/``-separated, on any system.

A baseline names its model file, factory file, weights and ``--import`` code relative to its
own folder, so that the check runs from any working directory and on any machine; a command
shapetrace prints names files relative to the working directory. Nothing here imports Keras
(or anything of shapetrace's).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["relative_path", "local_path"]


def relative_path(path: Path, base: Path | None = None) -> str:
    """``path`` relative to ``base`` (the working directory by default), ``/``-separated.

    A path on another drive (Windows) has no relative form: it stays absolute.
    """
    base = (base or Path.cwd()).resolve()
    try:
        return Path(os.path.relpath(path, base)).as_posix()
    except ValueError:  # another drive on Windows
        return Path(path).as_posix()


def local_path(path: Path) -> str:
    """``path`` as the user would type it from the working directory."""
    return relative_path(path.resolve())
