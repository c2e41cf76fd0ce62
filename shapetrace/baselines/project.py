"""What a baseline may make shapetrace run: only code that lives inside the project.

A baseline is data in a repository. ``shapetrace check`` re-runs the trace it
describes, so a baseline that could name any callable (``"model": "os:system"``)
would turn an edit of a JSON file into code execution in CI. Code named on the
command line is the user's choice; code named by a baseline is allowed only when
its source file lies inside the *project*:

    the nearest folder, starting at the baseline's own folder and going up, that
    holds ``.git``, ``pyproject.toml`` or ``.shapetrace-project`` (the repository
    root); the baseline's folder itself when no ancestor does.

``.shapetrace-project`` (an empty file) marks a project that has neither, such as
``examples/ci`` copied into a plain folder. Like a nested ``pyproject.toml`` it can
only mark a folder at or above the baseline, inside what was copied or checked out
with it: whoever can add it could add a ``pyproject.toml`` just as well.
:func:`outside_project` tells ``snapshot`` that ``check`` will refuse what it writes.

Everything is decided from the file system, *before* anything is imported: a
``pkg.module`` is located with :class:`importlib.machinery.PathFinder`, which reads
directories but executes nothing (``importlib.util.find_spec`` would import the
parent packages, running their ``__init__``). Every package on the way must be
inside the project too, since importing it runs its ``__init__``.

Importing this module does not import TensorFlow.
"""

from __future__ import annotations

import importlib.machinery
import inspect
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shapetrace.errors import UsageError
from shapetrace.models.loading import import_factory, parse_model_spec
from shapetrace.models.paths import local_path

__all__ = [
    "PROJECT_MARKERS",
    "project_root",
    "module_files",
    "inside",
    "ALLOWED",
    "AllowedCode",
    "allowed_code",
    "outside_project",
]

PROJECT_MARKERS = (".git", "pyproject.toml", ".shapetrace-project")

ALLOWED = (
    "a baseline may name only a keras.applications model, a .keras/.h5 model file (inside the project "
    "when checked with unsafe_load=True), or a factory (file.py:function or module:function) and `imports` "
    "code whose source lies inside the project (the nearest folder above the baseline holding .git, "
    "pyproject.toml or .shapetrace-project)"
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


@dataclass(frozen=True)
class AllowedCode:
    """What a baseline's check may run, each part verified to lie inside the project."""

    factory: Callable[..., Any] | None
    """The factory, imported (only project code ran) and checked, not yet called."""
    imports: tuple[str, ...]
    """``--import`` items as paths/modules usable from the working directory."""


def allowed_code(request: Mapping[str, Any], path: str | Path, *, unsafe_load: bool = False) -> AllowedCode:
    """Verify that the code a baseline names lies inside the project, before running any of it.

    Module and file locations are checked without importing; a factory's module
    (inside the project) is then imported and the factory itself must be defined
    inside the project too (a module may re-export ``os.system``). A model file may
    lie anywhere (it is loaded in safe mode), except under ``unsafe_load``: then it
    runs the code it carries, so it must be the project's own file too.

    Raises:
        UsageError: the baseline names code from outside the project (exit 2).
    """
    path = Path(path)
    base = path.resolve().parent
    root = project_root(base)
    imports = []
    for item in request.get("imports") or ():
        _require_inside(path, root, f"imports=[{item!r}]", _code_files(item.strip(), base))
        imports.append(local_path(base / item.strip()) if item.strip().endswith(".py") else item.strip())
    model = request.get("model")
    try:
        if not isinstance(model, str):
            raise UsageError("not a string")
        spec = parse_model_spec(model)
    except UsageError:
        raise _not_allowed(path, f"model {model!r}", "it is not a model name, file or factory") from None
    if spec.kind == "file" and unsafe_load and spec.path is not None:
        _require_inside(path, root, f"model file {model!r} with unsafe_load=True", [base / spec.path])
    if spec.kind != "factory":
        return AllowedCode(None, tuple(imports))
    target = str(spec.path) if spec.path is not None else spec.module or ""
    _require_inside(path, root, f"factory {model!r}", _code_files(target, base))
    if spec.path is not None:
        spec = parse_model_spec(f"{local_path(base / spec.path)}:{spec.function}")
    factory = import_factory(spec)  # only project files run: checked just above
    source = _source_file(factory)
    if source is None or not inside(source, root):
        where = "it has no Python source" if source is None else f"it is defined in {str(source)!r}"
        raise _not_allowed(path, f"factory {model!r}", f"{where}, outside the project {str(root)!r}")
    return AllowedCode(factory, tuple(imports))


def outside_project(request: Mapping[str, Any], path: str | Path) -> str | None:
    """Why ``check`` will refuse the baseline ``path`` with this ``request``, or None.

    The location checks of :func:`allowed_code`, run when a baseline is written: the code it
    names (a factory, ``imports``) must lie inside the project of the baseline's folder. Nothing
    is imported.
    """
    path = Path(path)
    base = path.resolve().parent
    root = project_root(base)
    named: list[tuple[str, str]] = [
        (f"imports item {item!r}", item.strip()) for item in request.get("imports") or ()
    ]
    model = request.get("model")
    if isinstance(model, str):
        try:
            spec = parse_model_spec(model)
        except UsageError:
            spec = None
        if spec is not None and spec.kind == "factory":
            named.append(
                (f"factory {model!r}", str(spec.path) if spec.path is not None else spec.module or "")
            )
    for what, target in named:
        files = _code_files(target, base)
        if isinstance(files, str):
            continue  # not found at all: check says so itself
        outside = [file for file in files if not inside(file, root)]
        if outside:
            return (
                f"it names {what}, and {os.path.realpath(outside[0])!r} is outside its project {str(root)!r} (the nearest "
                f"folder above the baseline holding {', '.join(PROJECT_MARKERS[:-1])} or {PROJECT_MARKERS[-1]})"
            )
    return None


def _code_files(target: str, base: Path) -> list[Path] | str:
    """The files importing ``target`` (a ``.py`` path relative to ``base``, or a module) would run,
    or why it cannot be located."""
    if target.endswith(".py"):
        return [base / target]
    try:
        return module_files(target, [str(Path.cwd()), *sys.path])
    except UsageError as error:
        return str(error)


def _require_inside(path: Path, root: Path, what: str, files: list[Path] | str) -> None:
    if isinstance(files, str):
        raise _not_allowed(path, what, files)
    for file in files:
        if not inside(file, root):
            raise _not_allowed(path, what, f"{str(file)!r} is outside the project {str(root)!r}")


def _not_allowed(path: Path, what: str, why: str) -> UsageError:
    return UsageError(
        f"Baseline {str(path)!r} names {what}, which is not allowed ({why}): {ALLOWED}.",
        param=("imports", "unsafe_load"),  # `what` and ALLOWED name them
    )


def _source_file(function: Any) -> Path | None:
    try:
        source = inspect.getsourcefile(function)
    except TypeError:  # built-in, or an instance without source
        return None
    return Path(source) if source else None
