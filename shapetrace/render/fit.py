"""Fitting a table to the window it is printed in: choose columns, never squeeze a shape.

A table that is wider than the terminal falls apart (the terminal wraps every row), and a
table that cuts or splits a shape lies. So on a terminal the renderers *choose*: the
columns that carry the story are always there, the others join by priority while they fit,
and only prose columns wrap (at spaces; shapes in prose are written without them). The
functions here are pure arithmetic on cell widths, so the choice is testable without a
console; the renderers measure their cells and build the rich table from the answer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.text import Text

__all__ = [
    "ColumnSpec",
    "Fit",
    "NAME_FLOOR",
    "PROSE_MIN_WIDTH",
    "SHAPE_IN_TEXT",
    "ShapeSafeText",
    "choose_columns",
    "compact_shape_text",
    "spec_of",
    "table_width",
]

SHAPE_IN_TEXT = re.compile(r"\((?:None|\d+)(?:, (?:None|\d+))*,?\)")
"""A shape as :func:`shapetrace.records.format_shape` writes it, inside any text."""

# A word for wrapping: a run of non-spaces, where a shape counts as one even with its spaces.
_WORD = re.compile(r"(?:" + SHAPE_IN_TEXT.pattern + r"|\S)+")

PROSE_MIN_WIDTH = 20
"""A wrapping column narrower than this reads as a list of words, not a sentence."""

NAME_FLOOR = 12
"""As a last resort (a window too narrow for the required columns), a name column folds to this."""

PROSE_COMFORT_MAX = 40
"""A wrapping column asks for room for most of its lines, but never more than this."""

# A box-drawn table spends one border per column plus one, and one space of padding on
# each side of every cell: "│ a │ b │" is len(a) + len(b) + 3 * 2 + 1. Without its outer
# edge (and the padding beside it), "a │ b" is len(a) + len(b) + 3 * 2 - 3.
_PER_COLUMN = 3
_EDGE = 1
_NO_EDGE = -3


@dataclass(frozen=True)
class ColumnSpec:
    """One candidate column, measured."""

    name: str
    """The column's name (for the trace table, the word ``--columns`` accepts)."""
    natural: int
    """Cells of its widest entry, header included: its width when nothing wraps."""
    minimum: int
    """The narrowest it may become: ``natural`` unless it wraps; then its longest word."""
    required: bool = False
    """Always shown, whatever the width."""
    floor: int | None = None
    """Its longest word: how far a wrapping column narrows when even the minimums do not fit
    (``None``: the minimum)."""

    @property
    def narrowest(self) -> int:
        return self.minimum if self.floor is None else min(self.floor, self.minimum)

    @property
    def wraps(self) -> bool:
        return self.minimum < self.natural


@dataclass(frozen=True)
class Fit:
    """The columns chosen for a width, and the width each one gets."""

    shown: tuple[str, ...]
    """Chosen columns, in the table's own order."""
    widths: tuple[int, ...]
    """Content width of each shown column (wrapping columns narrowed to fit)."""
    left_out: tuple[str, ...]
    """Candidate columns that did not fit, in the table's own order."""
    available: int
    """The width the table had to fit in."""
    edge: bool = True
    """Whether the table draws its outer edge (the widths were chosen for that)."""

    @property
    def width(self) -> int:
        return table_width(self.widths, edge=self.edge)

    @property
    def fits(self) -> bool:
        """False only when even the required columns, wrapped, are wider than the window."""
        return self.width <= self.available

    def width_of(self, name: str) -> int:
        return self.widths[self.shown.index(name)]


def table_width(widths: Iterable[int], *, edge: bool = True) -> int:
    """Total width of a box-drawn table whose columns have these content widths.

    ``edge=False``: a table drawn without its outer edge (rich's ``show_edge=False,
    pad_edge=False``), which narrow windows can afford less.
    """
    widths = list(widths)
    if not widths:
        return 0
    return sum(widths) + _PER_COLUMN * len(widths) + (_EDGE if edge else _NO_EDGE)


def spec_of(
    name: str,
    cells: Iterable[str],
    *,
    header: str = "",
    wraps: bool = False,
    required: bool = False,
    prose_min: int = PROSE_MIN_WIDTH,
    folds: bool = False,
) -> ColumnSpec:
    """Measure a column from its header and cell texts.

    ``folds``: a column of names that never wraps while the required columns fit, but may
    fold to ``NAME_FLOOR`` as a last resort (a name cut in two beats a shape cut in two).

    A wrapping column may narrow to its longest word, but it asks for room to keep nine in
    ten of its cells on one line (up to ``PROSE_COMFORT_MAX``), and never less than
    ``prose_min``: prose squeezed narrower than a few words is unreadable, and a column whose
    every line wraps doubles the table's height.
    """
    cells = list(cells)
    texts = [header, *cells]
    natural = max((cell_len(line) for text in texts for line in text.splitlines() or [""]), default=0)
    if not wraps:
        return ColumnSpec(name, natural, natural, required, floor=min(natural, NAME_FLOOR) if folds else None)
    # A shape is one word even with its spaces: prose wraps around it (ShapeSafeText)
    longest_word = max((cell_len(m.group(0)) for text in texts for m in _WORD.finditer(text)), default=0)
    lengths = sorted(cell_len(text) for text in cells if text.strip())
    most = lengths[max(0, math.ceil(len(lengths) * 0.9) - 1)] if lengths else 0
    minimum = min(natural, max(longest_word, prose_min, min(most, PROSE_COMFORT_MAX)))
    return ColumnSpec(
        name, natural, minimum, required, floor=min(longest_word, NAME_FLOOR) if folds else longest_word
    )


def _distribute(specs: Sequence[ColumnSpec], available: int, edge: bool) -> tuple[int, ...]:
    """Natural widths, with the widest wrapping columns narrowed until the table fits
    ``available`` or nothing more can give; a column goes below its (comfortable) minimum only
    as far as its longest word, and only when the minimums alone do not fit."""
    widths = [s.natural for s in specs]
    excess = table_width(widths, edge=edge) - available
    for limit in ([s.minimum for s in specs], [s.narrowest for s in specs]):
        while excess > 0:
            flexible = [i for i in range(len(specs)) if widths[i] > limit[i]]
            if not flexible:
                break
            # Narrow the widest column(s) first, one cell at a time: the result is the same
            # as water-filling, and tables have a handful of columns.
            widest = max(widths[i] for i in flexible)
            for i in flexible:
                if widths[i] == widest and excess > 0:
                    widths[i] -= 1
                    excess -= 1
    return tuple(widths)


def choose_columns(
    specs: Sequence[ColumnSpec], available: int, priority: Sequence[str] = (), *, edge: bool = True
) -> Fit:
    """The columns to show in ``available`` cells, and their widths.

    Required columns are always shown. The others join in ``priority`` order (those not
    named there come after, in table order) whenever they fit with every wrapping column at
    its minimum; a column too wide to fit is skipped and the next one tried, so the window is
    used well. Wrapping columns then take the room that is left, up to their natural width.

    Args:
        specs: every candidate column, in the table's order.
        available: the window's width in cells.
        priority: names of the optional columns, most wanted first.
        edge: the table draws its outer edge.

    Returns:
        A :class:`Fit` (its ``fits`` is False only if the required columns alone are too wide).
    """
    by_name = {s.name: s for s in specs}
    order = [n for n in priority if n in by_name and not by_name[n].required]
    order += [s.name for s in specs if not s.required and s.name not in order]
    chosen = {s.name for s in specs if s.required}
    for name in order:
        trial = chosen | {name}
        if table_width((s.minimum for s in specs if s.name in trial), edge=edge) <= available:
            chosen = trial
    shown = [s for s in specs if s.name in chosen]
    return Fit(
        shown=tuple(s.name for s in shown),
        widths=_distribute(shown, available, edge),
        left_out=tuple(s.name for s in specs if s.name not in chosen),
        available=available,
        edge=edge,
    )


def compact_shape_text(text: str) -> str:
    """``(1, 64, 64, 3)`` → ``(1,64,64,3)``: a shape without spaces is one word, never split."""
    return SHAPE_IN_TEXT.sub(lambda m: m.group(0).replace(", ", ","), text)


class ShapeSafeText:
    """Prose that wraps between words and never inside a shape, at whatever width it is given.

    rich wraps a :class:`~rich.text.Text` at any space, so ``(1, 15, 15, 2048)`` could end one
    line with ``(1,`` (piped output, a wrapped table cell). Here a shape is one word: a line
    breaks only at a space outside shapes, and a word wider than the line is folded as rich
    would. Styles are kept (the text is divided, not rebuilt).
    """

    def __init__(self, text: Text | str) -> None:
        self.text = Text(text) if isinstance(text, str) else text

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from self.lines(options.max_width)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        plain = self.text.plain
        longest = max((cell_len(m.group(0)) for m in _WORD.finditer(plain)), default=1)
        return Measurement(min(longest, options.max_width), min(cell_len(plain), options.max_width))

    def lines(self, width: int) -> list[Text]:
        """The text as lines at most ``width`` cells wide (a longer word folded)."""
        plain, breaks, start = self.text.plain, [], 0
        for word in _WORD.finditer(plain):
            if word.start() > start and cell_len(plain[start : word.end()]) > width:
                breaks.append(word.start())
                start = word.start()
        lines = []
        for line in self.text.divide(breaks):
            line.rstrip()
            line.no_wrap, line.overflow = False, "fold"
            lines.append(line)
        return lines
