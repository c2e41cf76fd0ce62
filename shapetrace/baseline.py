"""Baselines: a trace saved for code review, re-run later and compared structurally.

A baseline is the trace's JSON (schema ``shapetrace.baseline/1``) plus everything
needed to run the same trace again: the model spec, the probe options and the
Keras/TensorFlow versions that produced it. Paths in its ``request`` (saved model
files, factory files, weights) are relative to the baseline's own folder, so the
check runs from any working directory.

A baseline is data that anyone with write access to the repository can edit, so
:func:`check_baseline` runs only code that lives inside the project (see
:mod:`shapetrace.project`): an application, a model file (loaded in safe mode), or
a factory and ``--import`` code whose source file is in the project — decided
before anything is imported.

Comparison works on data, never on text: layers are aligned by their structural
path (auto-generated numbering such as ``conv2d_7`` removed) and type, in
execution order, so whitespace, key order, run-dependent numbers and names that
depend on what else the process built never make a difference.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shapetrace.display import Displayable
from shapetrace.errors import UsageError
from shapetrace.project import ALLOWED, inside, module_files, project_root
from shapetrace.records import SCHEMA as TRACE_SCHEMA
from shapetrace.records import Trace
from shapetrace.untrusted import MEMBER_LIMIT, not_a_file_reason, parse_json, read_capped, user_path

__all__ = [
    "BASELINE_SCHEMA",
    "FieldChange",
    "LayerDiff",
    "ShapeDiff",
    "CheckResult",
    "baseline_document",
    "write_baseline",
    "snapshot",
    "load_baseline",
    "compare",
    "rerun",
    "check_baseline",
    "check_trace",
    "obtained_path",
    "in_ci",
    "allowed_code",
    "AllowedCode",
]

BASELINE_SCHEMA = "shapetrace.baseline/1"
# Options of :func:`shapetrace.api.trace` that a baseline's ``request`` may carry.
_TRACE_OPTIONS = (
    "channels",
    "size",
    "batch",
    "native",
    "top",
    "weights",
    "pooling",
    "factory_args",
    "inputs",
)
_BASELINE_FIX = "restore it from version control or write it again with `shapetrace snapshot`."
_AUTO_SUFFIX = re.compile(r"_\d+$")
# A multi-line JSON array of numbers/nulls as json.dumps(indent=2) writes it. JSON strings
# never hold a raw newline, so "[" followed by a newline cannot be inside a string.
_NUMBER_LIST = re.compile(r"\[\n\s*((?:-?\d+(?:\.\d+)?|null)(?:,\n\s*(?:-?\d+(?:\.\d+)?|null))*)\n\s*\]")


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class FieldChange:
    """One value that differs between the baseline and now."""

    field: str
    """``output``, ``declared_output``, ``static_output``, ``channels``, ``params`` for a layer;
    ``verdict``, ``break``, ``boundary``, ``probe <input>``, ``total_params`` for the trace;
    ``backend``, ``keras``, ``tensorflow``/``jax``/``torch`` for drift of the Keras setup."""
    baseline: Any
    """The baseline's value as JSON data (shapes are lists; ``None`` when absent)."""
    now: Any

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "baseline": self.baseline, "now": self.now}


@dataclass(frozen=True)
class LayerDiff:
    """A layer that was added, removed, or whose shapes changed."""

    path: str
    """The layer's path now (the baseline's for a removed layer)."""
    type: str
    status: str
    """``changed``, ``added`` or ``removed``."""
    changes: tuple[FieldChange, ...] = ()
    """What changed (empty for added/removed layers)."""
    baseline: dict[str, Any] | None = None
    """The baseline's record of the layer (``None`` when added)."""
    now: dict[str, Any] | None = None
    """The new record of the layer (``None`` when removed)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "type": self.type,
            "status": self.status,
            "changes": [c.to_dict() for c in self.changes],
            "baseline_output": None if self.baseline is None else self.baseline.get("output"),
            "now_output": None if self.now is None else self.now.get("output"),
        }


@dataclass(frozen=True)
class ShapeDiff(Displayable):
    """Everything that differs between a baseline and a new run of the same trace."""

    model: str
    layers_total: int
    """Layers in the union of both runs (matched + added + removed)."""
    layers: tuple[LayerDiff, ...]
    """The differing layers in execution order."""
    trace: tuple[FieldChange, ...] = ()
    """Trace-level differences: verdict, break, boundary, probes, total params."""
    versions: tuple[FieldChange, ...] = ()
    """Keras backend and version drift (reported, never a failure on its own)."""

    @property
    def differs(self) -> bool:
        return bool(self.layers or self.trace)

    @property
    def summary(self) -> str:
        """``3 of 577 layers differ`` (plus trace-level changes)."""
        noun = "layer differs" if self.layers_total == 1 else "layers differ"
        text = f"{len(self.layers)} of {self.layers_total} {noun}"
        if len(self.layers) == 1 and self.layers_total != 1:
            text = f"1 of {self.layers_total} layers differs"
        if self.trace:
            text += "; " + ", ".join(c.field for c in self.trace) + " changed"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "differs": self.differs,
            "summary": self.summary,
            "layers_total": self.layers_total,
            "layers_differing": len(self.layers),
            "layers": [d.to_dict() for d in self.layers],
            "trace": [c.to_dict() for c in self.trace],
            "versions": [c.to_dict() for c in self.versions],
        }


@dataclass(frozen=True)
class CheckResult(Displayable):
    """The outcome of checking one baseline."""

    baseline: Path
    status: str
    """``match``, ``differs``, ``updated`` (rewritten with --update) or ``created``."""
    diff: ShapeDiff | None = None
    obtained: Path | None = None
    """Where the new trace was written when it differs (``shapes.obtained.json``)."""
    accept_command: str | None = None
    """The exact command that accepts the change."""

    @property
    def failed(self) -> bool:
        return self.status == "differs"

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline": str(self.baseline),
            "status": self.status,
            "diff": None if self.diff is None else self.diff.to_dict(),
            "obtained": None if self.obtained is None else str(self.obtained),
            "accept_command": self.accept_command,
        }


# --------------------------------------------------------------------------- writing


def baseline_document(trace: Trace, path: str | Path) -> dict[str, Any]:
    """The trace as baseline data for ``path``: run-dependent numbers dropped, paths made relative."""
    from shapetrace import __version__

    data = trace.to_dict()
    data["schema"] = BASELINE_SCHEMA
    data["trace_schema"] = TRACE_SCHEMA
    data.get("totals", {}).pop("seconds", None)  # differs on every run: noise in a review diff
    data["versions"] = {**data.get("versions", {}), "shapetrace": __version__}
    request = dict(data.get("request") or {})
    base = Path(path).resolve().parent
    request["model"] = _portable_spec(request.get("model"), base)
    if isinstance(request.get("weights"), str) and request["weights"].lower() not in ("none", "imagenet"):
        request["weights"] = _relative_to(user_path(request["weights"]).resolve(), base)
    if request.get("imports"):
        request["imports"] = [_portable_import(item, base) for item in request["imports"]]
    request["engine"] = data.get("engine", "stream")
    data["request"] = request
    return data


def dumps(data: dict[str, Any]) -> str:
    """Sorted keys, 2-space indent, trailing newline: stable text for a code review diff.

    Lists of plain numbers (shapes) stay on one line, ``[1, 32, 32, 3]``, so that a
    changed shape is a one-line change in the diff.
    """
    text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)
    return _NUMBER_LIST.sub(lambda m: "[" + re.sub(r",\s+", ", ", m.group(1)) + "]", text) + "\n"


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write to a temporary file beside ``path``, then rename: never a half-written file."""
    path = Path(path)
    text = dumps(data)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"Cannot write {str(path)!r}: the folder {str(folder)!r} does not exist.")
    try:
        handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as error:
        raise UsageError(f"Cannot write {str(path)!r}: {error.strerror or error}.") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
        os.chmod(temp, _file_mode(path))  # mkstemp makes 0600; a baseline is an ordinary file
        os.replace(temp, path)
    except BaseException as error:
        Path(temp).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise UsageError(f"Cannot write {str(path)!r}: {error.strerror or error}.") from None
        raise


def _file_mode(path: Path) -> int:
    if path.exists():
        return path.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_baseline(trace: Trace, path: str | Path) -> Path:
    """Write ``trace`` as the baseline ``path`` (atomically). Returns the path."""
    path = Path(path)
    write_json_atomic(path, baseline_document(trace, path))
    return path


def snapshot(model: Any, path: str | Path, **trace_options) -> Trace:
    """Trace ``model`` and write the result as the baseline ``path``.

    Args:
        model: anything :func:`shapetrace.trace` accepts.
        path: the baseline file to write (its folder must exist).
        **trace_options: options of :func:`shapetrace.trace`.

    Returns:
        The trace that was written.
    """
    from shapetrace.api import trace as run_trace

    path = Path(path)
    if path.suffix.lower() != ".json":
        raise UsageError(
            f"Baseline {str(path)!r} must be a .json file, e.g. -o shapes/{path.stem or 'model'}.json."
        )
    if not (path.parent if str(path.parent) else Path(".")).is_dir():
        raise UsageError(f"Cannot write {str(path)!r}: the folder {str(path.parent)!r} does not exist.")
    result = run_trace(model, **trace_options)
    write_baseline(result, path)
    return result


def obtained_path(path: str | Path) -> Path:
    """``shapes.json`` → ``shapes.obtained.json`` beside it."""
    path = Path(path)
    return path.with_name(f"{path.stem}.obtained{path.suffix or '.json'}")


# --------------------------------------------------------------------------- reading


def load_baseline(path: str | Path) -> dict[str, Any]:
    """Read and validate a baseline file.

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
            raw = read_capped(stream, MEMBER_LIMIT, f"Baseline {str(path)!r}")
    except OSError as error:
        raise UsageError(f"Baseline {str(path)!r} cannot be read: {error.strerror or error}.") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(
            f"Baseline {str(path)!r} is not text: expected JSON written by `shapetrace snapshot`."
        ) from None
    data = parse_json(text, f"Baseline {str(path)!r}", _BASELINE_FIX)
    _validate(data, path)
    return data


def _validate(data: Any, path: Path) -> None:
    def bad(where: str, expected: str, value: Any) -> UsageError:
        shown = json.dumps(value)  # parse_json bounded the depth: this cannot recurse too far
        if len(shown) > 60:
            shown = shown[:57] + "..."
        return UsageError(
            f"Baseline {str(path)!r} is invalid: {where} should be {expected}, received {shown}; "
            "restore it from version control or write it again with `shapetrace snapshot`."
        )

    if not isinstance(data, dict):
        raise bad("the document", "a JSON object", type(data).__name__)
    schema = data.get("schema")
    if schema == TRACE_SCHEMA:
        raise UsageError(
            f"Baseline {str(path)!r} is `shapetrace trace --format json` output (schema {schema!r}), "
            "not a baseline: write baselines with `shapetrace snapshot MODEL -o FILE`."
        )
    if schema != BASELINE_SCHEMA:
        raise UsageError(
            f"Baseline {str(path)!r} has schema {schema!r}: expected {BASELINE_SCHEMA!r}; "
            "write it with `shapetrace snapshot MODEL -o FILE`."
        )
    request = data.get("request")
    if not isinstance(request, dict):
        raise bad("request", "an object", request)
    checks: list[tuple[str, Any, Callable[[Any], bool], str]] = [
        (
            "request.model",
            request.get("model"),
            lambda v: v is None or (isinstance(v, str) and v.strip() != ""),
            "a model name, file or factory",
        ),
        (
            "request.channels",
            request.get("channels"),
            lambda v: v is None or _is_int(v, 1),
            "a whole number or null",
        ),
        (
            "request.size",
            request.get("size"),
            lambda v: v is None or (_is_list(v) and len(v) == 2 and all(_is_int(d, 1) for d in v)),
            "[height, width] or null",
        ),
        ("request.batch", request.get("batch", 1), lambda v: _is_int(v, 1), "a whole number of at least 1"),
        ("request.native", request.get("native", False), lambda v: isinstance(v, bool), "true or false"),
        ("request.top", request.get("top", False), lambda v: isinstance(v, bool), "true or false"),
        (
            "request.weights",
            request.get("weights"),
            lambda v: v is None or isinstance(v, str),
            "a string or null",
        ),
        (
            "request.pooling",
            request.get("pooling"),
            lambda v: v in (None, "avg", "max"),
            '"avg", "max" or null',
        ),
        ("request.factory_args", request.get("factory_args", {}), lambda v: isinstance(v, dict), "an object"),
        (
            "request.inputs",
            request.get("inputs", {}),
            lambda v: (
                isinstance(v, dict)
                and all(_is_list(d) and d and all(_is_int(x, 1) for x in d) for d in v.values())
            ),
            "an object of input name → [dims]",
        ),
        (
            "request.imports",
            request.get("imports", []),
            lambda v: _is_list(v) and all(isinstance(i, str) and i.strip() for i in v),
            "a list of files or modules to import",
        ),
        (
            "request.engine",
            request.get("engine", "stream"),
            lambda v: v in ("stream", "submodels"),
            '"stream" or "submodels"',
        ),
        ("verdict", data.get("verdict"), lambda v: v in ("ok", "broken"), '"ok" or "broken"'),
        ("versions", data.get("versions", {}), lambda v: isinstance(v, dict), "an object"),
        (
            "boundary",
            data.get("boundary"),
            lambda v: isinstance(v, dict) and isinstance(v.get("accepted"), bool),
            'an object with "accepted": true/false',
        ),
        (
            "broken",
            data.get("broken"),
            lambda v: v is None or (isinstance(v, dict) and isinstance(v.get("layer"), str)),
            'null or an object with a "layer"',
        ),
        (
            "probes",
            data.get("probes"),
            lambda v: (
                _is_list(v)
                and len(v) > 0
                and all(isinstance(p, dict) and _is_shape(p.get("shape"), nullable=False) for p in v)
            ),
            'a list of probes with a "shape"',
        ),
        ("layers", data.get("layers"), lambda v: _is_list(v) and len(v) > 0, "a non-empty list of layers"),
    ]
    for where, value, ok, expected in checks:
        if not ok(value):
            raise bad(where, expected, value)
    for i, layer in enumerate(data["layers"]):
        where = f"layers[{i}]"
        if not isinstance(layer, dict):
            raise bad(where, "an object", layer)
        for key in ("path", "type"):
            if not isinstance(layer.get(key), str) or not layer.get(key):
                raise bad(f"{where}.{key}", "a non-empty string", layer.get(key))
        for key in ("output", "declared_output", "static_output"):
            if not _is_shape(layer.get(key)):
                raise bad(
                    f"{where}.{key}", "a shape (a list of whole numbers and nulls) or null", layer.get(key)
                )
        for key in ("channels_in", "channels_out"):
            if not (layer.get(key) is None or _is_int(layer.get(key), 0)):
                raise bad(f"{where}.{key}", "a whole number or null", layer.get(key))
        if not _is_int(layer.get("params", 0), 0):
            raise bad(f"{where}.params", "a whole number", layer.get("params"))


def _is_int(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _is_list(value: Any) -> bool:
    return isinstance(value, list)


def _is_shape(value: Any, nullable: bool = True) -> bool:
    if value is None:
        return nullable
    return _is_list(value) and all(d is None or _is_int(d, 0) for d in value)


# --------------------------------------------------------------------------- comparing


def structural_path(path: str) -> str:
    """``functional_3/conv2d_7`` → ``functional/conv2d``: the path without Keras's auto-numbering."""
    return "/".join(_AUTO_SUFFIX.sub("", part) for part in path.split("/"))


def compare(baseline: dict[str, Any], now: dict[str, Any]) -> ShapeDiff:
    """Compare two baseline documents as data.

    Layers are aligned in execution order by structural path and type (a longest
    common subsequence), so an inserted layer is one "added" row rather than a
    shift of every layer after it.
    """
    old_layers, new_layers = baseline["layers"], now["layers"]
    pairs = _align([_layer_key(layer) for layer in old_layers], [_layer_key(layer) for layer in new_layers])
    diffs: list[LayerDiff] = []
    for i, j in pairs:
        if j is None:
            old = old_layers[i]
            diffs.append(LayerDiff(old["path"], old["type"], "removed", (), old, None))
        elif i is None:
            new = new_layers[j]
            diffs.append(LayerDiff(new["path"], new["type"], "added", (), None, new))
        else:
            old, new = old_layers[i], new_layers[j]
            changes = _layer_changes(old, new)
            if changes:
                diffs.append(LayerDiff(new["path"], new["type"], "changed", changes, old, new))
    total = len(pairs)
    return ShapeDiff(
        model=str(now.get("model") or baseline.get("model")),
        layers_total=total,
        layers=tuple(diffs),
        trace=_trace_changes(baseline, now),
        versions=_version_drift(baseline, now),
    )


def _align(a: list[str], b: list[str]) -> list[tuple[int | None, int | None]]:
    """A longest-common-subsequence alignment of two key lists, in order.

    Returns ``(i, j)`` pairs: both set for a matched layer, ``(i, None)`` for a removed
    one, ``(None, j)`` for an added one. Unlike difflib's matcher, which looks for the
    longest *contiguous* block, this stays exact when keys repeat (every ``conv2d``).
    """
    start = 0
    while start < len(a) and start < len(b) and a[start] == b[start]:
        start += 1
    end = 0
    while end < len(a) - start and end < len(b) - start and a[-1 - end] == b[-1 - end]:
        end += 1
    mid_a, mid_b = a[start : len(a) - end], b[start : len(b) - end]
    n, m = len(mid_a), len(mid_b)
    # lcs[i][j]: length of the LCS of mid_a[i:] and mid_b[j:]
    lcs = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        row, below, key = lcs[i], lcs[i + 1], mid_a[i]
        for j in range(m - 1, -1, -1):
            row[j] = below[j + 1] + 1 if key == mid_b[j] else max(below[j], row[j + 1])
    pairs: list[tuple[int | None, int | None]] = [(k, k) for k in range(start)]
    i = j = 0
    while i < n and j < m:
        if mid_a[i] == mid_b[j] and lcs[i][j] == lcs[i + 1][j + 1] + 1:
            pairs.append((start + i, start + j))
            i, j = i + 1, j + 1
        elif lcs[i + 1][j] >= lcs[i][j + 1]:
            pairs.append((start + i, None))
            i += 1
        else:
            pairs.append((None, start + j))
            j += 1
    pairs += [(start + k, None) for k in range(i, n)] + [(None, start + k) for k in range(j, m)]
    pairs += [(len(a) - end + k, len(b) - end + k) for k in range(end)]
    return pairs


def _layer_key(layer: dict[str, Any]) -> str:
    return f"{structural_path(layer['path'])}|{layer['type']}"


def _channels_text(layer: dict[str, Any]) -> str | None:
    """``"1 → 3 (broadcast)"`` when the layer changes the channel count, else ``None``."""
    c_in, c_out = layer.get("channels_in"), layer.get("channels_out")
    if layer.get("output") is None or c_in == c_out:
        return None
    mechanism = layer.get("mechanism")
    return f"{c_in} → {c_out}" + (f" ({mechanism})" if mechanism else "")


def _layer_changes(old: dict[str, Any], new: dict[str, Any]) -> tuple[FieldChange, ...]:
    changes = []
    if old.get("output") != new.get("output"):
        changes.append(FieldChange("output", old.get("output"), new.get("output")))
    same_output = old.get("output") == new.get("output")
    # When the actual shape changed and the declared (or statically inferred) shape moved
    # with it, that is the same news twice: report those when they changed on their own,
    # or when their agreement with the real run flipped (the story's point).
    before, after = old.get("declared_output"), new.get("declared_output")
    flipped = _fits(before, old.get("output")) != _fits(after, new.get("output"))
    if before != after and (same_output or flipped):
        changes.append(FieldChange("declared_output", before, after))
    # Static inference counts by whether it agrees with the real run, not by how an
    # open batch axis is spelled (``1`` or ``None``).
    before, after = old.get("static_output"), new.get("static_output")
    agreed, agrees = _fits(before, old.get("output")), _fits(after, new.get("output"))
    if agreed != agrees or (not agreed and not agrees and same_output and before != after):
        changes.append(FieldChange("static_output", before, after))
    old_ch, new_ch = _channels_text(old), _channels_text(new)
    if old_ch != new_ch:
        changes.append(FieldChange("channels", old_ch, new_ch))
    if old.get("params", 0) != new.get("params", 0):
        changes.append(FieldChange("params", old.get("params", 0), new.get("params", 0)))
    return tuple(changes)


def _fits(declared: Any, actual: Any) -> bool:
    """The declared (or inferred) shape allows the actual one (``None`` dims match anything)."""
    if declared is None or actual is None:
        return declared is None and actual is None
    return len(declared) == len(actual) and all(
        d is None or a is None or d == a for d, a in zip(declared, actual)
    )


def _break_view(data: dict[str, Any]) -> dict[str, Any] | None:
    broken = data.get("broken")
    if not broken:
        return None
    # Keras's wording of the error is not compared: it changes between versions.
    return {
        "layer": structural_path(broken.get("layer", "")),
        "type": broken.get("type"),
        "expected": broken.get("expected"),
        "received": broken.get("received"),
    }


def _trace_changes(old: dict[str, Any], new: dict[str, Any]) -> tuple[FieldChange, ...]:
    changes = []
    if old.get("verdict") != new.get("verdict"):
        changes.append(FieldChange("verdict", old.get("verdict"), new.get("verdict")))
    if _break_view(old) != _break_view(new):
        changes.append(FieldChange("break", old.get("broken"), new.get("broken")))
    old_accepted = (old.get("boundary") or {}).get("accepted")
    new_accepted = (new.get("boundary") or {}).get("accepted")
    if old_accepted != new_accepted:
        changes.append(FieldChange("boundary", old.get("boundary"), new.get("boundary")))
    old_probes, new_probes = old.get("probes") or [], new.get("probes") or []
    for i in range(max(len(old_probes), len(new_probes))):
        a = old_probes[i] if i < len(old_probes) else {}
        b = new_probes[i] if i < len(new_probes) else {}
        if a.get("shape") != b.get("shape"):
            name = structural_path(str(b.get("name") or a.get("name") or i))
            label = "probe" if len(new_probes) == 1 and len(old_probes) == 1 else f"probe {name}"
            changes.append(FieldChange(label, a.get("shape"), b.get("shape")))
    old_params = (old.get("totals") or {}).get("params")
    new_params = (new.get("totals") or {}).get("params")
    if old_params is not None and old_params != new_params:
        changes.append(FieldChange("total_params", old_params, new_params))
    return tuple(changes)


def _backend_of(versions: dict[str, Any]) -> str | None:
    # Baselines written before the backend was recorded all ran on TensorFlow.
    return versions.get("backend") or ("tensorflow" if "tensorflow" in versions else None)


def _version_drift(old: dict[str, Any], new: dict[str, Any]) -> tuple[FieldChange, ...]:
    a, b = old.get("versions") or {}, new.get("versions") or {}
    backend_a, backend_b = _backend_of(a), _backend_of(b)
    if backend_a != backend_b:
        # Another backend: its package's version says nothing the backend's name does not.
        changes = [FieldChange("backend", backend_a, backend_b)]
        if a.get("keras") != b.get("keras"):
            changes.append(FieldChange("keras", a.get("keras"), b.get("keras")))
        return tuple(changes)
    from shapetrace.backends import BACKEND_PACKAGES

    names = ("keras", *(p for p in BACKEND_PACKAGES.values() if p in a or p in b))
    return tuple(FieldChange(name, a.get(name), b.get(name)) for name in names if a.get(name) != b.get(name))


# --------------------------------------------------------------------------- checking


def rerun(
    document: dict[str, Any],
    path: str | Path,
    *,
    unsafe_load: bool = False,
    imports: list[str] | tuple[str, ...] | None = None,
    on_layer: Callable[[int], None] | None = None,
    on_walk_start: Callable[[int | None], None] | None = None,
) -> Trace:
    """Run the trace a baseline describes again (paths resolved against the baseline's folder).

    Only code inside the project runs (see :func:`allowed_code`); ``imports`` are
    extra ``--import`` items from the command line, the user's own choice. ``on_layer`` and
    ``on_walk_start`` report progress, as for :func:`shapetrace.trace`.
    """
    from dataclasses import replace

    from shapetrace.api import trace as run_trace

    path = Path(path)
    request = document["request"]
    model = request.get("model")
    if model is None:
        raise UsageError(
            f"Baseline {str(path)!r} was written from a model object (assert_shapes with a "
            "keras.Model), so it names no model to re-run: check it from its test, or write it "
            "from a name, file or factory."
        )
    base = path.resolve().parent
    code = allowed_code(request, path, unsafe_load=unsafe_load)
    options = {key: request[key] for key in _TRACE_OPTIONS if key in request}
    if options.get("size") is not None:
        options["size"] = tuple(options["size"])
    if isinstance(options.get("weights"), str) and options["weights"].lower() not in ("none", "imagenet"):
        options["weights"] = _local_path(base / options["weights"])
    try:
        result = run_trace(
            code.factory if code.factory is not None else _local_spec(model, base),
            engine=request.get("engine", document.get("engine", "stream")),
            unsafe_load=unsafe_load,
            imports=[*code.imports, *(imports or ())],
            on_layer=on_layer,
            on_walk_start=on_walk_start,
            **options,
        )
    except UsageError as error:
        raise UsageError(f"{path}: {error}", param=error.params) from None
    # Recorded as the baseline named it (a factory ran as the callable resolved above).
    request_now = {
        **result.request,
        "model": _local_spec(model, base) if code.factory is not None else result.request.get("model"),
    }
    if code.imports:
        request_now["imports"] = [*code.imports, *(imports or ())]
    return replace(result, request=request_now)


@dataclass(frozen=True)
class AllowedCode:
    """What a baseline's check may run, each part verified to lie inside the project."""

    factory: Callable[..., Any] | None
    """The factory, imported (only project code ran) and checked, not yet called."""
    imports: tuple[str, ...]
    """``--import`` items as paths/modules usable from the working directory."""


def allowed_code(request: dict[str, Any], path: str | Path, *, unsafe_load: bool = False) -> AllowedCode:
    """Verify that the code a baseline names lies inside the project, before running any of it.

    Module and file locations are checked without importing; a factory's module
    (inside the project) is then imported and the factory itself must be defined
    inside the project too (a module may re-export ``os.system``). A model file may
    lie anywhere (it is loaded in safe mode), except under ``unsafe_load``: then it
    runs the code it carries, so it must be the project's own file too.

    Raises:
        UsageError: the baseline names code from outside the project (exit 2).
    """
    from shapetrace.loading import import_factory, parse_model_spec

    path = Path(path)
    base = path.resolve().parent
    root = project_root(base)
    imports = []
    for item in request.get("imports") or ():
        _require_inside(path, root, f"imports=[{item!r}]", _code_files(item.strip(), base))
        imports.append(_local_path(base / item.strip()) if item.strip().endswith(".py") else item.strip())
    model = request.get("model")
    try:
        spec = parse_model_spec(model)
    except UsageError:
        raise _not_allowed(path, f"model {model!r}", "it is not a model name, file or factory") from None
    if spec.kind == "file" and unsafe_load:
        _require_inside(path, root, f"model file {model!r} with unsafe_load=True", [base / spec.path])
    if spec.kind != "factory":
        return AllowedCode(None, tuple(imports))
    target = f"{spec.path}" if spec.path is not None else spec.module
    _require_inside(path, root, f"factory {model!r}", _code_files(target, base))
    if spec.path is not None:
        spec = parse_model_spec(f"{_local_path(base / spec.path)}:{spec.function}")
    factory = import_factory(spec)  # only project files run: checked just above
    source = _source_file(factory)
    if source is None or not inside(source, root):
        where = "it has no Python source" if source is None else f"it is defined in {str(source)!r}"
        raise _not_allowed(path, f"factory {model!r}", f"{where}, outside the project {str(root)!r}")
    return AllowedCode(factory, tuple(imports))


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
    import inspect

    try:
        source = inspect.getsourcefile(function)
    except TypeError:  # built-in, or an instance without source
        return None
    return Path(source) if source else None


def check_trace(
    trace: Trace,
    path: str | Path,
    *,
    update: bool = False,
    accept_command: str | None = None,
    update_hint: str = "update=True",
) -> CheckResult:
    """Compare a trace already run with the baseline ``path``.

    A missing baseline is written only when ``update`` is true and the ``CI``
    environment variable is not set; otherwise it raises.

    Raises:
        UsageError: invalid baseline, or a missing one that may not be created.
    """
    path = Path(path)
    now = baseline_document(trace, path)
    if not path.exists():
        if update and not in_ci():
            write_json_atomic(path, now)
            return CheckResult(path, "created")
        if in_ci():
            raise UsageError(
                f"Baseline {str(path)!r} does not exist, and CI is set, so it is not created here: "
                f"create it locally with {update_hint}, review it and commit it.",
                param="update",
            )
        raise UsageError(
            f"Baseline {str(path)!r} does not exist: create it with {update_hint}, review it and commit it.",
            param="update",
        )
    return _settle(path, load_baseline(path), now, update=update, accept_command=accept_command)


def check_baseline(
    path: str | Path,
    *,
    update: bool = False,
    unsafe_load: bool = False,
    imports: list[str] | tuple[str, ...] | None = None,
    on_layer: Callable[[int], None] | None = None,
    on_walk_start: Callable[[int | None], None] | None = None,
) -> CheckResult:
    """Re-run the trace the baseline ``path`` describes and compare.

    Args:
        path: a baseline written by :func:`snapshot`.
        update: rewrite the baseline when it differs.
        unsafe_load: allow a saved model file to run the code it carries.
        imports: extra ``--import`` code given on the command line (the user's choice).
        on_layer, on_walk_start: progress callbacks, as for :func:`shapetrace.trace`.

    Returns:
        A :class:`CheckResult`; ``status`` is ``differs`` when the shapes changed.

    Raises:
        UsageError: a missing, unreadable or invalid baseline, one that names code from
            outside the project, or a model that cannot be loaded.
    """
    path = Path(path)
    document = load_baseline(path)
    trace = rerun(
        document,
        path,
        unsafe_load=unsafe_load,
        imports=imports,
        on_layer=on_layer,
        on_walk_start=on_walk_start,
    )
    command = f"shapetrace check {shlex.quote(str(path))} --update" + (
        " --unsafe-load" if unsafe_load else ""
    )
    return _settle(path, document, baseline_document(trace, path), update=update, accept_command=command)


def _settle(
    path: Path, document: dict, now: dict, *, update: bool, accept_command: str | None
) -> CheckResult:
    diff = compare(document, now)
    obtained = obtained_path(path)
    if not diff.differs:
        obtained.unlink(missing_ok=True)  # a stale artifact of an earlier failure would mislead
        return CheckResult(path, "match", diff)
    if update:
        write_json_atomic(path, now)
        obtained.unlink(missing_ok=True)
        return CheckResult(path, "updated", diff)
    write_json_atomic(obtained, now)
    return CheckResult(path, "differs", diff, obtained, accept_command)


def in_ci() -> bool:
    """True when the ``CI`` environment variable is set (to anything but ``0``/``false``)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


# --------------------------------------------------------------------------- paths


def _portable_spec(spec: Any, base: Path) -> Any:
    """A file or factory-file spec relative to the baseline's folder; names left as they are."""
    if not isinstance(spec, str):
        return spec
    from shapetrace.loading import parse_model_spec

    try:
        parsed = parse_model_spec(spec)
    except UsageError:
        return spec
    if parsed.kind == "file":
        return _relative_to(parsed.path.resolve(), base)
    if parsed.kind == "factory" and parsed.path is not None:
        return f"{_relative_to(parsed.path.resolve(), base)}:{parsed.function}"
    return spec


def _portable_import(item: str, base: Path) -> str:
    """An ``--import`` file relative to the baseline's folder; a module name as it is."""
    if item.strip().endswith(".py"):
        return _relative_to(user_path(item.strip()).resolve(), base)
    return item


def _local_spec(spec: str, base: Path) -> str:
    from shapetrace.loading import parse_model_spec

    try:
        parsed = parse_model_spec(spec)
    except UsageError:
        return spec
    if parsed.kind == "file":
        return _local_path(base / parsed.path)
    if parsed.kind == "factory" and parsed.path is not None:
        return f"{_local_path(base / parsed.path)}:{parsed.function}"
    return spec


def _relative_to(path: Path, base: Path) -> str:
    try:
        return Path(os.path.relpath(path, base)).as_posix()
    except ValueError:  # another drive on Windows
        return path.as_posix()


def _local_path(path: Path) -> str:
    """``path`` as the user would type it from the working directory."""
    resolved = path.resolve()
    try:
        return Path(os.path.relpath(resolved, Path.cwd())).as_posix()
    except ValueError:
        return resolved.as_posix()
