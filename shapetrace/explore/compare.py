"""Two probes through one model, side by side: where their shapes differ, where they meet.

The answer is one sentence, e.g. "From `normalization` on, a 1-channel probe and
a 3-channel probe have the same shapes": the layer after which nothing in the
model can tell the two inputs apart any more (by shape).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shapetrace.display import Displayable
from shapetrace.errors import UsageError
from shapetrace.records import LayerTrace, Trace, format_shape

__all__ = ["AlignedRow", "Comparison", "compare_channels", "compare_traces", "validate_compare"]

SCHEMA = "shapetrace.compare/1"


def _channels_words(n: int | None) -> str:
    return f"{n}-channel"


@dataclass(frozen=True)
class AlignedRow:
    """One layer call as both probes saw it (``None`` where a probe never reached it)."""

    path: str
    name: str
    type: str
    first: LayerTrace | None
    second: LayerTrace | None

    @property
    def same(self) -> bool:
        """Both probes ran this call and got outputs of the very same shape."""
        a, b = self.first, self.second
        return (
            a is not None
            and b is not None
            and not a.failed
            and not b.failed
            and a.output is not None
            and tuple(a.output) == tuple(b.output or ())
        )

    def to_dict(self) -> dict[str, Any]:
        def side(row: LayerTrace | None) -> Any:
            if row is None:
                return None
            return {
                "index": row.index,
                "output": None if row.output is None else list(row.output),
                "failed": row.failed,
            }

        return {
            "path": self.path,
            "type": self.type,
            "first": side(self.first),
            "second": side(self.second),
            "same": self.same,
        }


@dataclass(frozen=True)
class Comparison(Displayable):
    """Two traces of one model with their rows aligned by layer call."""

    first: Trace
    second: Trace
    rows: tuple[AlignedRow, ...]
    converged_at: int | None
    """Position in ``rows`` from which every row has the same shapes for both probes (``None``: never)."""

    @property
    def model(self) -> str:
        return self.first.model

    @property
    def channels(self) -> tuple[int | None, int | None]:
        return self.first.probe.channels, self.second.probe.channels

    @property
    def converged_row(self) -> AlignedRow | None:
        return None if self.converged_at is None else self.rows[self.converged_at]

    @property
    def headline(self) -> str:
        """The answer in one sentence."""
        a, b = (_channels_words(c) for c in self.channels)
        row = self.converged_row
        if row is not None and self.converged_at == 0:
            return f"A {a} probe and a {b} probe have the same shapes at every layer."
        if row is not None:
            before = self.rows[: self.converged_at]
            names = (
                ", ".join(f"`{r.name}`" for r in before) if len(before) <= 3 else f"{len(before)} layer calls"
            )
            change = ""
            if row.first is not None and row.first.channels_changed and row.first.why:
                n = row.first.channels_in
                change = (
                    f" There {n} channel{'' if n == 1 else 's'} become{'s' if n == 1 else ''} "
                    f"{row.first.channels_out}: {row.first.why}."
                )
            return (
                f"From `{row.name}` on, a {a} probe and a {b} probe have the same shapes.{change} "
                f"Before it they differ only at {names}."
            )
        first_break, second_break = self.first.broken, self.second.broken
        if first_break is not None and second_break is None:
            return (
                f"The {a} probe breaks at `{first_break.layer}` ({first_break.type}) while the {b} "
                "probe passes: their shapes never become the same."
            )
        if second_break is not None and first_break is None:
            return (
                f"The {b} probe breaks at `{second_break.layer}` ({second_break.type}) while the {a} "
                "probe passes: their shapes never become the same."
            )
        if first_break is not None and second_break is not None:
            return (
                f"Both probes break (the {a} one at `{first_break.layer}`, the {b} one at "
                f"`{second_break.layer}`) before their shapes become the same."
            )
        last_a, last_b = self.first.layers[-1].output, self.second.layers[-1].output
        return (
            f"A {a} probe and a {b} probe never reach the same shapes: the outputs are "
            f"{format_shape(last_a)} and {format_shape(last_b)}."
        )

    def to_dict(self) -> dict[str, Any]:
        row = self.converged_row
        return {
            "schema": SCHEMA,
            "model": self.model,
            "channels": list(self.channels),
            "headline": self.headline,
            "converged_at": None
            if row is None
            else {"path": row.path, "name": row.name, "position": self.converged_at},
            "rows": [r.to_dict() for r in self.rows],
            "traces": [self.first.to_dict(), self.second.to_dict()],
        }


def _keyed(trace: Trace) -> dict[tuple[str, int], LayerTrace]:
    """Rows keyed by (path, how many times that path ran before): shared layers stay apart."""
    seen: dict[str, int] = {}
    keyed = {}
    for row in trace.layers:
        n = seen.get(row.path, 0)
        seen[row.path] = n + 1
        keyed[(row.path, n)] = row
    return keyed


def compare_traces(first: Trace, second: Trace) -> Comparison:
    """Align two traces of the same model row by row and find where their shapes meet."""
    a, b = _keyed(first), _keyed(second)
    keys = list(a) + [k for k in b if k not in a]
    rows = []
    for key in keys:
        row = a.get(key) or b[key]
        rows.append(
            AlignedRow(path=row.path, name=row.name, type=row.type, first=a.get(key), second=b.get(key))
        )
    converged = None
    for i in range(len(rows) - 1, -1, -1):
        if not rows[i].same:
            break
        converged = i
    # A probe that broke lacks the rows after its break, so `converged` is None then by itself.
    return Comparison(first=first, second=second, rows=tuple(rows), converged_at=converged)


def validate_compare(channels: int | None, other: int | None, default: int = 3) -> None:
    """``--compare`` must name a different channel count than the probe's."""
    from shapetrace.models.catalog import validate_channels

    if other is None:
        return
    validate_channels(other, "other")
    mine = default if channels is None else channels
    if other == mine:
        raise UsageError(
            f"other={other} equals the probe's channel count ({mine}): expected a different "
            f"number to compare with, e.g. channels={mine} other={3 if mine != 3 else 1}.",
            param=("other", "channels"),
        )


def compare_channels(
    model: Any, *, channels: int | None = None, other: int = 3, **options: Any
) -> Comparison:
    """Trace ``model`` with ``channels`` and with ``other`` channels and align the two traces.

    Args:
        model: an application name or a built ``keras.Model`` (as for :func:`shapetrace.trace`).
        channels: the first probe's channels (default 3 for an application).
        other: the second probe's channels.
        **options: passed to :func:`shapetrace.api.trace` (size, batch, native, …).

    Raises:
        UsageError: ``other`` equals ``channels``.
    """
    from shapetrace.api import trace

    validate_compare(channels, other)
    first = trace(model, channels=channels, **options)
    second = trace(model, channels=other, **options)
    return compare_traces(first, second)
