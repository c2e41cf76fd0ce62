"""Baseline files: a trace saved for code review, read back as a :class:`~shapetrace.records.Trace`.

A baseline is the trace's JSON document (schema ``shapetrace.baseline/1``) plus everything
needed to run the same trace again: the model spec, the probe options and the
Keras/TensorFlow versions that produced it. Paths in its ``request`` (saved model
files, factory files, weights) are relative to the baseline's own folder, so the
check runs from any working directory. The text is stable for a code review: sorted keys,
shapes on one line, no run-dependent numbers.

Checking a baseline (:mod:`shapetrace.baselines.check`) re-runs its request (:mod:`shapetrace.baselines.rerun`,
only project code: :mod:`shapetrace.baselines.project`) and diffs the records (:mod:`shapetrace.baselines.diff`).
"""

from __future__ import annotations

import json
import os
import re
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

from shapetrace._version import __version__
from shapetrace.baselines.project import outside_project
from shapetrace.errors import OutsideProjectWarning, UsageError
from shapetrace.fileio import atomic_write, validate_writable
from shapetrace.models.loading import parse_model_spec
from shapetrace.models.paths import local_path, relative_path
from shapetrace.models.untrusted import not_a_file_reason, parse_json, read_capped, too_large, user_path
from shapetrace.models.weights import weights_choice
from shapetrace.records import SCHEMA as TRACE_SCHEMA
from shapetrace.records import Trace
from shapetrace.tracing.report import trace_document

__all__ = [
    "BASELINE_SCHEMA",
    "baseline_document",
    "dumps",
    "write_baseline",
    "snapshot",
    "load_baseline",
    "read_baseline",
    "obtained_path",
    "local_spec",
]

BASELINE_SCHEMA = "shapetrace.baseline/1"
BASELINE_LIMIT = 8 * 1024 * 1024
"""Bytes a baseline may have. The largest keras.applications model's baseline is well under
1 MB; parsed JSON takes ~40 times its size in memory, so a 60 MB file would need 2.5 GB."""
_BASELINE_FIX = "restore it from version control or write it again with `shapetrace snapshot`."
# A multi-line JSON array of numbers/nulls as json.dumps(indent=2) writes it. JSON strings
# never hold a raw newline, so "[" followed by a newline cannot be inside a string.
_NUMBER_LIST = re.compile(r"\[\n\s*((?:-?\d+(?:\.\d+)?|null)(?:,\n\s*(?:-?\d+(?:\.\d+)?|null))*)\n\s*\]")


# --------------------------------------------------------------------------- writing


def baseline_document(trace: Trace, path: str | Path) -> dict[str, Any]:
    """The trace as baseline data for ``path``: run-dependent numbers dropped, paths made relative.

    Args:
        trace: the trace to record.
        path: where the baseline will be written (its folder anchors the relative paths).

    Returns:
        The document :func:`dumps` turns into the file's text.
    """

    data = trace_document(trace)
    data["schema"] = BASELINE_SCHEMA
    data["trace_schema"] = TRACE_SCHEMA
    data.get("totals", {}).pop("seconds", None)  # differs on every run: noise in a review diff
    data["versions"] = {**data.get("versions", {}), "shapetrace": __version__}
    request, base = trace.request, Path(path).resolve().parent
    weights = request.weights
    if weights is not None and isinstance(choice := weights_choice(weights), Path):
        weights = relative_path(choice.resolve(), base)
    data["request"] = replace(
        request,
        model=_portable_spec(request.model, base),
        weights=weights,
        imports=request.imports and tuple(_portable_import(item, base) for item in request.imports),
        engine=trace.engine,
        omitted=request.omitted - {"model"},  # always written: null for a model object
    ).to_dict()
    return data


def dumps(data: dict[str, Any]) -> str:
    """Sorted keys, 2-space indent, trailing newline: stable text for a code review diff.

    Lists of plain numbers (shapes) stay on one line, ``[1, 32, 32, 3]``, so that a
    changed shape is a one-line change in the diff.
    """
    text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)
    return _NUMBER_LIST.sub(lambda m: "[" + re.sub(r",\s+", ", ", m.group(1)) + "]", text) + "\n"


def write_baseline(trace: Trace, path: str | Path) -> Path:
    """Write ``trace`` as the baseline ``path`` (atomically). Returns the path."""
    path = Path(path)
    atomic_write(path, dumps(baseline_document(trace, path)))
    return path


def snapshot(model: Any, path: str | Path, **trace_options: Any) -> Trace:
    """Trace ``model`` and write the result as the baseline ``path``.

    Args:
        model: anything :func:`shapetrace.trace` accepts.
        path: the baseline file to write (its folder must exist).
        **trace_options: options of :func:`shapetrace.trace`.

    Returns:
        The trace that was written.
    """
    from shapetrace.api import trace as run_trace  # TensorFlow loads here, not on import

    path = Path(path)
    if path.suffix.lower() != ".json":
        raise UsageError(
            f"Baseline {str(path)!r} must be a .json file, e.g. -o shapes/{path.stem or 'model'}.json."
        )
    validate_writable(path)  # before the trace, which may take minutes
    result = run_trace(model, **trace_options)
    write_baseline(result, path)
    _warn_if_outside_project(result, path)
    return result


def _warn_if_outside_project(trace: Trace, path: Path) -> None:
    """Say now, not in CI, when ``check`` will refuse this baseline (the file is still written:
    a ``git init`` at the right folder makes it acceptable as it is)."""
    why = outside_project(baseline_document(trace, path)["request"], path)
    if why is not None:
        warnings.warn(
            OutsideProjectWarning(
                f"`shapetrace check` will refuse {str(path)!r}: {why}. Mark your project's root, the folder "
                "holding the baseline and the code: it is a git repository, has a pyproject.toml, or holds "
                "an empty .shapetrace-project file."
            ),
            stacklevel=3,
        )


def obtained_path(path: str | Path) -> Path:
    """``shapes.json`` → ``shapes.obtained.json`` beside it."""
    path = Path(path)
    return path.with_name(f"{path.stem}.obtained{path.suffix or '.json'}")


# --------------------------------------------------------------------------- reading


def load_baseline(path: str | Path) -> Trace:
    """Read a baseline file back into the trace it recorded, validating every field.

    Returns:
        The trace (its ``request`` as written: paths relative to the baseline's folder).

    Raises:
        UsageError: the file is missing, not JSON, has another schema, or was edited into nonsense.
    """
    path = Path(path)
    reason = not_a_file_reason(path)
    if reason == "does not exist":
        raise UsageError(
            f"Baseline {str(path)!r} does not exist: create it with "
            f"`shapetrace snapshot MODEL [options] -o {path}`."
        )
    if reason is not None:
        raise UsageError(
            f"Baseline {str(path)!r} {reason}: expected a JSON file written by `shapetrace snapshot`."
        )
    try:
        with open(path, "rb") as stream:
            if os.fstat(stream.fileno()).st_size > BASELINE_LIMIT:  # before reading a byte
                raise too_large(f"Baseline {str(path)!r}", BASELINE_LIMIT)
            raw = read_capped(stream, BASELINE_LIMIT, f"Baseline {str(path)!r}")
    except OSError as error:
        raise UsageError(f"Baseline {str(path)!r} cannot be read: {error.strerror or error}.") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(
            f"Baseline {str(path)!r} is not text: expected JSON written by `shapetrace snapshot`."
        ) from None
    return read_baseline(parse_json(text, f"Baseline {str(path)!r}", _BASELINE_FIX), path)


def read_baseline(data: Any, path: str | Path) -> Trace:
    """The trace a baseline document (parsed JSON) recorded; ``path`` names it in errors.

    Raises:
        UsageError: another schema, or a field that does not fit (named by its path).
    """
    path = Path(path)
    schema = data.get("schema") if isinstance(data, dict) else None
    if schema == TRACE_SCHEMA:
        raise UsageError(
            f"Baseline {str(path)!r} is `shapetrace trace --format json` output (schema {schema!r}), "
            "not a baseline: write baselines with `shapetrace snapshot MODEL -o FILE`."
        )
    if isinstance(data, dict) and schema != BASELINE_SCHEMA:
        raise UsageError(
            f"Baseline {str(path)!r} has schema {schema!r}: expected {BASELINE_SCHEMA!r}; "
            "write it with `shapetrace snapshot MODEL -o FILE`."
        )
    try:
        # What a baseline must say, beyond what a trace's JSON may leave out: how to run it
        # again, its verdict, and at least one layer to compare.
        for key, expected in (("request", "an object"), ("verdict", '"ok" or "broken"')):
            if isinstance(data, dict) and key not in data:
                raise UsageError(f"{key}: expected {expected}, got nothing")
        trace = Trace.from_dict(
            {k: v for k, v in data.items() if k != "schema"} if isinstance(data, dict) else data
        )
        if not trace.layers:
            raise UsageError("layers: expected a non-empty list of layers, got []")
    except UsageError as error:
        raise UsageError(f"Baseline {str(path)!r} is invalid: {error}; {_BASELINE_FIX}") from None
    return trace


# --------------------------------------------------------------------------- paths


def _portable_spec(spec: Any, base: Path) -> Any:
    """A file or factory-file spec relative to the baseline's folder; names left as they are."""
    if not isinstance(spec, str):
        return spec
    try:
        parsed = parse_model_spec(spec)
    except UsageError:
        return spec
    if parsed.kind == "file" and parsed.path is not None:
        return relative_path(parsed.path.resolve(), base)
    if parsed.kind == "factory" and parsed.path is not None:
        return f"{relative_path(parsed.path.resolve(), base)}:{parsed.function}"
    return spec


def _portable_import(item: str, base: Path) -> str:
    """An ``--import`` file relative to the baseline's folder; a module name as it is."""
    if item.strip().endswith(".py"):
        return relative_path(user_path(item.strip()).resolve(), base)
    return item


def local_spec(spec: str, base: Path) -> str:
    """A spec a baseline in folder ``base`` wrote, as the user would type it from the working directory."""
    try:
        parsed = parse_model_spec(spec)
    except UsageError:
        return spec
    if parsed.kind == "file" and parsed.path is not None:
        return local_path(base / parsed.path)
    if parsed.kind == "factory" and parsed.path is not None:
        return f"{local_path(base / parsed.path)}:{parsed.function}"
    return spec
