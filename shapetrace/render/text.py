"""Renderables to plain text at a width that never cuts a table."""

from __future__ import annotations

from rich.console import Console, RenderableType
from rich.measure import Measurement

__all__ = ["needed_width", "render_text"]

MIN_WIDTH = 80
PROSE_MIN_WIDTH = 16
_UNBOUNDED = 100_000


def needed_width(console: Console, renderable: RenderableType, *, wrap: bool = False) -> int:
    """The width at which ``renderable`` (a table) renders without shrinking any column.

    With ``wrap``, its wrapping (prose) columns may narrow to ``PROSE_MIN_WIDTH`` and wrap;
    the columns that never wrap (shapes, names) keep their full width either way.
    """
    prose = [c for c in getattr(renderable, "columns", []) if wrap and not c.no_wrap]
    saved = [c.max_width for c in prose]
    for column in prose:
        column.max_width = PROSE_MIN_WIDTH
    try:
        return Measurement.get(console, console.options.update(width=_UNBOUNDED), renderable).maximum
    finally:
        for column, width in zip(prose, saved):
            column.max_width = width


def render_text(
    renderable: RenderableType, *, measure: RenderableType | None = None, width: int | None = None
) -> str:
    """Plain text (no control codes), as wide as ``measure`` needs, trailing spaces stripped."""
    console = Console(
        width=width or MIN_WIDTH,
        color_system=None,
        no_color=True,
        highlight=False,
        emoji=False,
        force_terminal=False,
    )
    if measure is not None:
        console.width = max(needed_width(console, measure), width or MIN_WIDTH)
    with console.capture() as capture:
        console.print(renderable)
    return "\n".join(line.rstrip() for line in capture.get().splitlines()) + "\n"
