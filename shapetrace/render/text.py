"""Renderables to plain text at a width that never cuts a table."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console, ConsoleOptions, RenderableType
from rich.measure import Measurement
from rich.segment import Segment

from shapetrace.messages import visible

__all__ = ["VisibleConsole", "needed_width", "render_text"]

MIN_WIDTH = 80
PROSE_MIN_WIDTH = 16
_UNBOUNDED = 100_000


class VisibleConsole(Console):
    """A rich ``Console`` that shows control characters in what it renders as escapes.

    Every console shapetrace prints, captures or exports through is one of these, so names
    from models, baselines and files reach a terminal, a log or an SVG escaped
    (:func:`shapetrace.messages.visible`) whichever renderer placed them. Escaping happens on
    the rendered segments, the one point all renderers pass; rich's own control segments
    (cursor moves of a live status line) are left alone. A name that holds controls renders a
    few characters wider than its column was measured: the table shifts, the terminal is safe.
    """

    def render(self, renderable: RenderableType, options: ConsoleOptions | None = None) -> Iterable[Segment]:
        for segment in super().render(renderable, options):
            text = segment.text if segment.control else visible(segment.text)
            yield segment if text is segment.text else Segment(text, segment.style)


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
    console = VisibleConsole(
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
