"""Choosing what to see of a trace: columns, nesting depth, a part of the layers, the changes.

One :class:`View` applies equally to the table and to JSON, so ``--columns``,
``--depth``, ``--layers`` and ``--changes-only`` mean the same thing in both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import regex

from shapetrace.errors import UsageError
from shapetrace.records import LayerTrace, Trace
from shapetrace.tracing.costs import sum_macs
from shapetrace.tracing.report import trace_document

__all__ = [
    "COLUMNS",
    "DEFAULT_COLUMNS",
    "View",
    "parse_columns",
    "parse_layers",
    "collapse_depth",
    "changed_rows",
]

# Column name → the LayerTrace.to_dict keys it shows (JSON keeps exactly these).
COLUMNS: dict[str, tuple[str, ...]] = {
    "index": ("index",),
    "layer": ("path", "name", "depth"),
    "type": ("type",),
    "inputs": ("inputs",),
    "declared": ("declared_output",),
    "static": ("static_output",),
    "actual": ("output",),
    "ch": ("channels_in", "channels_out"),
    "params": ("params", "shared"),
    "trainable": ("trainable_params",),
    "non_trainable": ("non_trainable_params",),
    "macs": ("macs",),
    "memory": ("activation_bytes",),
    "why": ("why", "mechanism"),
}
DEFAULT_COLUMNS = ("index", "layer", "type", "declared", "actual", "ch", "params", "macs", "why")
ALWAYS_IN_JSON = ("index", "path", "failed")
_ALIASES = {
    "#": "index",
    "name": "layer",
    "output": "actual",
    "channels": "ch",
    "bytes": "memory",
    "activation": "memory",
    "non-trainable": "non_trainable",
    "mac": "macs",
}


def parse_columns(text: str | None) -> tuple[str, ...]:
    """``"layer,actual,macs"`` → column names; ``all`` and ``default`` are shorthands.

    Raises:
        UsageError: an empty list or an unknown name (the valid names are listed).
    """
    if text is None:
        return DEFAULT_COLUMNS
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    if not names:
        raise UsageError(
            f"Empty `columns`: expected a comma-separated list of {_valid_names()}.", param="columns"
        )
    chosen: list[str] = []
    for name in names:
        if name == "all":
            chosen.extend(COLUMNS)
            continue
        if name == "default":
            chosen.extend(DEFAULT_COLUMNS)
            continue
        name = _ALIASES.get(name, name).replace("-", "_")
        if name not in COLUMNS:
            raise UsageError(
                f"Unknown column {name!r} in `columns`: expected {_valid_names()}.", param="columns"
            )
        chosen.append(name)
    return tuple(dict.fromkeys(chosen))  # keep the order given, drop repeats


def _valid_names() -> str:
    return ", ".join(COLUMNS) + " (or all, default)"


PATTERN_SECONDS = 2.0
"""How long a `layers` expression may search one trace's layer names, all of them together."""


@dataclass(frozen=True)
class LayerFilter:
    """``--layers``: a regular expression searched in each layer's name and path, or a ``FROM..TO`` range."""

    text: str
    pattern: Any = None
    """The compiled expression (a ``regex`` pattern, searched with a time bound), or ``None``."""
    start: str | None = None
    stop: str | None = None

    def apply(self, rows: tuple[LayerTrace, ...]) -> tuple[LayerTrace, ...]:
        if self.pattern is not None:
            kept = self._matching(rows)
            if not kept:
                raise UsageError(
                    f"layers={self.text!r} matches none of the {len(rows)} layer calls of this trace; "
                    "expected a pattern found in a layer's name or path (see the full table).",
                    param="layers",
                )
            return kept
        first = _find(rows, self.start, "FROM", self.text)
        last = _find(rows, self.stop, "TO", self.text)
        if last < first:
            raise UsageError(
                f"layers={self.text!r}: {self.stop!r} (row {rows[last].index}) runs before "
                f"{self.start!r} (row {rows[first].index}); expected FROM..TO in execution order.",
                param="layers",
            )
        return rows[first : last + 1]

    def _matching(self, rows: tuple[LayerTrace, ...]) -> tuple[LayerTrace, ...]:
        deadline = time.monotonic() + PATTERN_SECONDS
        kept = []
        try:
            for row in rows:
                for text in (row.path, row.name):
                    if self.pattern.search(text, timeout=max(deadline - time.monotonic(), 0.001)):
                        kept.append(row)
                        break
        except TimeoutError:
            raise UsageError(
                f"layers={self.text!r} took more than {PATTERN_SECONDS:g} s to search {len(rows)} layer "
                "names: the expression backtracks (like '(a|aa)+$'); expected a simpler one, e.g. "
                "'block[12]' or a range FROM..TO.",
                param="layers",
            ) from None
        return tuple(kept)


def _find(rows: tuple[LayerTrace, ...], name: str | None, which: str, text: str) -> int:
    if not name:
        return 0 if which == "FROM" else len(rows) - 1
    for i, row in enumerate(rows):
        if name in (row.name, row.path):
            return i
    raise UsageError(
        f"layers={text!r}: no layer named {name!r} in this trace ({which} of FROM..TO); "
        "expected a layer name or path from the table.",
        param="layers",
    )


def parse_layers(text: str | None) -> LayerFilter | None:
    """``--layers``: ``FROM..TO`` (layer names, either end optional) or a regular expression.

    Raises:
        UsageError: an empty or invalid expression.
    """
    if text is None:
        return None
    if not text.strip():
        raise UsageError(
            "Empty `layers`: expected a regular expression like 'block1' or a range FROM..TO.", param="layers"
        )
    if ".." in text and not _looks_like_regex(text):
        start, _, stop = text.partition("..")
        if not start.strip() and not stop.strip():
            raise UsageError(
                f"layers={text!r} names no layer: expected FROM..TO, e.g. stem_conv..block2a_add.",
                param="layers",
            )
        return LayerFilter(text=text, start=start.strip() or None, stop=stop.strip() or None)
    try:
        # The `regex` engine, not `re`: its searches take a timeout, so a pattern that
        # backtracks exponentially on a long layer name ends in one line, not minutes of CPU.
        pattern = regex.compile(text)
    except (regex.error, ValueError, OverflowError) as error:
        raise UsageError(f"Invalid `layers` regular expression {text!r}: {error}.", param="layers") from None
    return LayerFilter(text=text, pattern=pattern)


def _looks_like_regex(text: str) -> bool:
    return any(ch in text for ch in "*+?[](){}|^$\\")


def _group_key(row: LayerTrace, depth: int) -> str | None:
    """The nested model a row collapses into at ``depth`` (``None``: the row stays itself)."""
    if row.depth <= depth:
        return None
    return "/".join(row.path.split("/")[: depth + 2])


def collapse_depth(rows: tuple[LayerTrace, ...], depth: int | None) -> tuple[LayerTrace, ...]:
    """Merge each nested model below ``depth`` into one row carrying its summed costs.

    The merged row takes the nested model's path, its first call's inputs and its
    last call's output, so a channel change inside it still shows.
    """
    if depth is None:
        return rows
    if depth < 0:
        raise UsageError(f"Invalid depth={depth}: expected 0 (top-level layers only) or more.", param="depth")
    merged: list[LayerTrace] = []
    group: list[LayerTrace] = []
    key: str | None = None
    for row in rows:
        row_key = _group_key(row, depth)
        if row_key is None and row.container and row.depth == depth:
            row_key = row.path  # an opened block heads the group its insides collapse into
        if group and (row_key != key or (row.container and row.path == row_key)):
            merged.append(_merge(group, key))
            group = []
        if row_key is None:
            merged.append(row)
        else:
            group.append(row)
        key = row_key
    if group:
        merged.append(_merge(group, key))
    return tuple(merged)


def _merge(group: list[LayerTrace], path: str | None) -> LayerTrace:
    first, last = group[0], group[-1]
    assert path is not None
    if len(group) == 1 and first.container:
        return first  # a block whose insides are shown at this depth anyway
    failed = any(row.failed for row in group)
    changed = next((r for r in group if r.why), None)
    # An opened block's own row knows its real output (ops in its call() come after the
    # last sublayer); a nested model's group ends with its last layer's output.
    head = first if first.container and first.path == path else None
    tail = head if head is not None else last
    return replace(
        first,
        path=path,
        name=path.rsplit("/", 1)[-1],
        type=f"{head.type} ({len(group) - 1} layers)" if head is not None else f"({len(group)} layers)",
        depth=path.count("/") - 1,
        declared_output=tail.declared_output,
        static_output=tail.static_output,
        output=None if failed else tail.output,
        params=sum(r.params for r in group),
        trainable_params=sum(r.trainable_params for r in group),
        non_trainable_params=sum(r.non_trainable_params for r in group),
        macs=sum_macs(r.macs for r in group),  # one unknown row makes the block's cost unknown
        activation_bytes=sum(r.activation_bytes for r in group),
        why=(
            head.why
            if head is not None and head.why
            else None
            if changed is None
            else f"first change inside at `{changed.name}`: {changed.why}"
        ),
        mechanism=head.mechanism
        if head is not None and head.why
        else None
        if changed is None
        else changed.mechanism,
        shared=False,
        failed=failed,
        container=False,
    )


def changed_rows(rows: tuple[LayerTrace, ...]) -> tuple[LayerTrace, ...]:
    """The rows where something changed, plus the first and the last (all of them when ≤ 2)."""
    if len(rows) <= 2:
        return rows
    last = len(rows) - 1
    return tuple(
        row
        for i, row in enumerate(rows)
        if i in (0, last)
        or row.channels_changed
        or row.differs_from_declared
        or row.static_disagrees
        or row.failed
    )


@dataclass(frozen=True)
class View:
    """What part of a trace to show: the same for the table and for JSON.

    JSON has one layout whatever the view: every top-level key of ``Trace.to_dict()`` plus
    ``view``; each layer carries ``failed``. Only the rows and, with ``--columns``, ``--depth``
    or ``--layers``, the keys of each layer differ.
    """

    columns: tuple[str, ...] = DEFAULT_COLUMNS
    depth: int | None = None
    """Collapse nested models deeper than this into one row each (``None``: show all)."""
    layers: LayerFilter | None = None
    changes_only: bool = False
    """Only rows where something changed, plus the first and the last."""

    @classmethod
    def parse(
        cls,
        columns: str | None = None,
        depth: int | None = None,
        layers: str | None = None,
        changes_only: bool = False,
    ) -> View:
        """Validate the CLI options at once (before any model is built)."""
        if depth is not None and depth < 0:
            raise UsageError(
                f"Invalid depth={depth}: expected 0 (top-level layers only) or more.", param="depth"
            )
        return cls(
            columns=parse_columns(columns),
            depth=depth,
            layers=parse_layers(layers),
            changes_only=changes_only,
        )

    @property
    def is_default(self) -> bool:
        """Default columns, depth and layers (``changes_only`` aside): each layer's JSON is whole."""
        return self.columns == DEFAULT_COLUMNS and self.depth is None and self.layers is None

    def rows(self, trace: Trace) -> tuple[LayerTrace, ...]:
        """The rows to show: collapsed to ``depth``, filtered by ``layers``, then the changes."""
        rows = collapse_depth(trace.layers, self.depth)
        if self.layers is not None:
            rows = self.layers.apply(rows)
        return changed_rows(rows) if self.changes_only else rows

    def row_dict(self, row: LayerTrace) -> dict[str, Any]:
        """A layer's JSON: whole for the default view, else ``index``, ``path``, ``failed`` and the columns' keys."""
        full = row.to_dict()
        if self.is_default:
            return full
        keys = [*ALWAYS_IN_JSON, *(k for c in self.columns for k in COLUMNS[c])]
        return {k: full[k] for k in dict.fromkeys(keys)}

    def trace_dict(self, trace: Trace) -> dict[str, Any]:
        """The trace's JSON document with its ``layers`` chosen and trimmed like the table's rows, and ``view``."""
        data = trace_document(trace)
        data["layers"] = [self.row_dict(row) for row in self.rows(trace)]
        data["view"] = {
            "columns": list(self.columns),
            "depth": self.depth,
            "layers": None if self.layers is None else self.layers.text,
            "changes_only": self.changes_only,
        }
        return data
