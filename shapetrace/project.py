"""What a baseline may make shapetrace run: only code that lives inside the project.

A baseline is data in a repository. ``shapetrace check`` re-runs the trace it
describes, so a baseline that could name any callable (``"model": "os:system"``)
would turn an edit of a JSON file into code execution in CI. Code named on the
command line is the user's choice; code named by a baseline is allowed only when
its source file lies inside the *project*:

    the nearest folder, starting at the baseline's own folder and going up, that
    holds ``.git`` or ``pyproject.toml`` (the repository root); the baseline's
    folder itself when no ancestor does.

Everything is decided from the file system, *before* anything is imported: a
``pkg.module`` is located with :class:`importlib.machinery.PathFinder`, which reads
directories but executes nothing (``importlib.util.find_spec`` would import the
parent packages, running their ``__init__``). Every package on the way must be
inside the project too, since importing it runs its ``__init__``.

Importing this module does not import TensorFlow.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys
from pathlib import Path

from shapetrace.errors import UsageError

__all__ = ["PROJECT_MARKERS", "project_root", "module_files", "inside", "ALLOWED"]

PROJECT_MARKERS = (".git", "pyproject.toml")

ALLOWED = (
    "a baseline may name only a keras.applications model, a .keras/.h5 model file (inside the project "
    "when checked with unsafe_load=True), or a factory (file.py:function or module:function) and `imports` "
    "code whose source lies inside the project (the nearest folder above the baseline holding .git or "
    "pyproject.toml)"
)


def project_root(start: Path) -> Path:
    """The project a file in folder ``start`` belongs to (see the module docstring)."""
    start = Path(start).resolve()
    for folder in (start, *start.parents):
        if any((folder / marker).exists() for marker in PROJECT_MARKERS):
            return folder
    return start


def inside(path: Path, root: Path) -> bool:
    """``path`` (symbolic links resolved) lies in ``root``."""
    try:
        Path(os.path.realpath(path)).relative_to(root)
    except ValueError:
        return False
    return True


def module_files(module: str, search: list[str]) -> list[Path]:
    """The files importing ``module`` would execute (each package's ``__init__`` and the module).

    Nothing is imported. A module already imported counts with the file it was loaded
    from, since importing it again returns that one.

    Raises:
        UsageError: the module cannot be located as a source file (built-in, frozen, missing).
    """
    parts = module.split(".")
    files: list[Path] = []
    path: list[str] | None = search
    for i in range(len(parts)):
        name = ".".join(parts[: i + 1])
        loaded = sys.modules.get(name)
        if loaded is not None:
            origin = getattr(loaded, "__file__", None)
            locations = getattr(loaded, "__path__", None)
        else:
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            if spec is None:
                raise UsageError(
                    f"module {module!r} cannot be found as a source file under {search[0]!r} or on the Python path"
                )
            origin = spec.origin if spec.has_location else None
            locations = spec.submodule_search_locations
        if origin is None and not locations:
            raise UsageError(f"module {name!r} is built into Python, not a source file")
        if origin is not None:
            files.append(Path(origin))
        elif locations:  # a namespace package runs no code, but its folder must be ours
            files.extend(Path(location) for location in locations)
        path = list(locations) if locations else None
        if path is None and i < len(parts) - 1:
            raise UsageError(f"module {module!r}: {name!r} is not a package")
    return files
