"""What differs between two traces of the same model, as data: the heart of a baseline check.

Comparison works on records, never on text: layers are aligned by their structural path
(auto-generated numbering such as ``conv2d_7`` removed) and type, in execution order, so
whitespace, key order, run-dependent numbers and names that depend on what else the process
built never make a difference. Nothing here imports Keras.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from shapetrace.backends import BACKEND_PACKAGES
from shapetrace.display import Displayable
from shapetrace.records import Break, LayerTrace, Shape, Trace, shapes_compatible

__all__ = ["FieldChange", "LayerDiff", "ShapeDiff", "diff_traces", "structural_path"]

_AUTO_SUFFIX = re.compile(r"_\d+$")


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
    baseline: LayerTrace | None = None
    """The baseline's record of the layer (``None`` when added)."""
    now: LayerTrace | None = None
    """The new record of the layer (``None`` when removed)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "type": self.type,
            "status": self.status,
            "changes": [c.to_dict() for c in self.changes],
            "baseline_output": None if self.baseline is None else _listed(self.baseline.output),
            "now_output": None if self.now is None else _listed(self.now.output),
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


def structural_path(path: str) -> str:
    """``functional_3/conv2d_7`` → ``functional/conv2d``: the path without Keras's auto-numbering."""
    return "/".join(_AUTO_SUFFIX.sub("", part) for part in path.split("/"))


def diff_traces(old: Trace, new: Trace) -> ShapeDiff:
    """What differs between ``old`` (a baseline, read back) and ``new`` (the same trace run now).

    Layers are aligned in execution order by structural path and type (a longest
    common subsequence), so an inserted layer is one "added" row rather than a
    shift of every layer after it.

    Args:
        old: the trace the baseline recorded.
        new: the trace as it runs now.

    Returns:
        The differences; ``differs`` is false when only the Keras setup drifted.
    """
    pairs = align([_layer_key(layer) for layer in old.layers], [_layer_key(layer) for layer in new.layers])
    diffs: list[LayerDiff] = []
    for i, j in pairs:
        before = None if i is None else old.layers[i]
        after = None if j is None else new.layers[j]
        if before is not None and after is not None:
            changes = _layer_changes(before, after)
            if changes:
                diffs.append(LayerDiff(after.path, after.type, "changed", changes, before, after))
        elif before is not None:
            diffs.append(LayerDiff(before.path, before.type, "removed", (), before, None))
        elif after is not None:
            diffs.append(LayerDiff(after.path, after.type, "added", (), None, after))
    return ShapeDiff(
        model=new.model or old.model,
        layers_total=len(pairs),
        layers=tuple(diffs),
        trace=_trace_changes(old, new),
        versions=_version_drift(old.versions, new.versions),
    )


def align(a: list[str], b: list[str]) -> list[tuple[int | None, int | None]]:
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


def _listed(shape: Shape | None) -> list[int | None] | None:
    return None if shape is None else list(shape)


def _layer_key(layer: LayerTrace) -> str:
    return f"{structural_path(layer.path)}|{layer.type}"


def _channels_text(layer: LayerTrace) -> str | None:
    """``"1 → 3 (broadcast)"`` when the layer changes the channel count, else ``None``."""
    if not layer.channels_changed:
        return None
    return f"{layer.channels_in} → {layer.channels_out}" + (
        f" ({layer.mechanism})" if layer.mechanism else ""
    )


def _layer_changes(old: LayerTrace, new: LayerTrace) -> tuple[FieldChange, ...]:
    changes = []
    same_output = old.output == new.output
    if not same_output:
        changes.append(FieldChange("output", _listed(old.output), _listed(new.output)))
    # When the actual shape changed and the declared (or statically inferred) shape moved
    # with it, that is the same news twice: report those when they changed on their own,
    # or when their agreement with the real run flipped (the story's point).
    before, after = old.declared_output, new.declared_output
    flipped = shapes_compatible(before, old.output) != shapes_compatible(after, new.output)
    if before != after and (same_output or flipped):
        changes.append(FieldChange("declared_output", _listed(before), _listed(after)))
    # Static inference counts by whether it agrees with the real run, not by how an
    # open batch axis is spelled (``1`` or ``None``).
    before, after = old.static_output, new.static_output
    agreed, agrees = shapes_compatible(before, old.output), shapes_compatible(after, new.output)
    if agreed != agrees or (not agreed and not agrees and same_output and before != after):
        changes.append(FieldChange("static_output", _listed(before), _listed(after)))
    old_ch, new_ch = _channels_text(old), _channels_text(new)
    if old_ch != new_ch:
        changes.append(FieldChange("channels", old_ch, new_ch))
    if old.params != new.params:
        changes.append(FieldChange("params", old.params, new.params))
    return tuple(changes)


def _break_view(broken: Break | None) -> tuple[str, str, str, str] | None:
    if broken is None:
        return None
    # Keras's wording of the error is not compared: it changes between versions.
    return (structural_path(broken.layer), broken.type, broken.expected, broken.received)


def _trace_changes(old: Trace, new: Trace) -> tuple[FieldChange, ...]:
    changes = []
    if old.verdict != new.verdict:
        changes.append(FieldChange("verdict", old.verdict, new.verdict))
    if _break_view(old.broken) != _break_view(new.broken):
        changes.append(
            FieldChange(
                "break",
                None if old.broken is None else old.broken.to_dict(),
                None if new.broken is None else new.broken.to_dict(),
            )
        )
    if old.boundary.accepted != new.boundary.accepted:
        changes.append(FieldChange("boundary", old.boundary.to_dict(), new.boundary.to_dict()))
    single = len(old.probes) == 1 and len(new.probes) == 1
    for i in range(max(len(old.probes), len(new.probes))):
        a = old.probes[i] if i < len(old.probes) else None
        b = new.probes[i] if i < len(new.probes) else None
        shape_a = None if a is None else list(a.shape)
        shape_b = None if b is None else list(b.shape)
        if shape_a != shape_b:
            name = structural_path(
                (b.name if b is not None else "") or (a.name if a is not None else "") or str(i)
            )
            changes.append(FieldChange("probe" if single else f"probe {name}", shape_a, shape_b))
    if old.total_params != new.total_params:
        changes.append(FieldChange("total_params", old.total_params, new.total_params))
    return tuple(changes)


def _backend_of(versions: dict[str, str]) -> str | None:
    # Baselines written before the backend was recorded all ran on TensorFlow.
    return versions.get("backend") or ("tensorflow" if "tensorflow" in versions else None)


def _version_drift(a: dict[str, str], b: dict[str, str]) -> tuple[FieldChange, ...]:
    backend_a, backend_b = _backend_of(a), _backend_of(b)
    if backend_a != backend_b:
        # Another backend: its package's version says nothing the backend's name does not.
        changes = [FieldChange("backend", backend_a, backend_b)]
        if a.get("keras") != b.get("keras"):
            changes.append(FieldChange("keras", a.get("keras"), b.get("keras")))
        return tuple(changes)
    names = ("keras", *(p for p in BACKEND_PACKAGES.values() if p in a or p in b))
    return tuple(FieldChange(name, a.get(name), b.get(name)) for name in names if a.get(name) != b.get(name))
