"""Renderables to plain text at a width that never cuts a table."""

from __future__ import annotations

import io
from collections.abc import Iterable

from rich.console import Console, ConsoleOptions, RenderableType
from rich.measure import Measurement
from rich.segment import Segment

from shapetrace.messages import visible

__all__ = ["VisibleConsole", "needed_width", "offscreen_console", "render_text"]

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


def offscreen_console(
    *, width: int = MIN_WIDTH, measure: RenderableType | None = None, export: bool = False
) -> VisibleConsole:
    """A console that prints into a string, never to the screen or a notebook's output.

    Args:
        width: its width in cells.
        measure: a table the console widens for (beyond ``width``), so that it renders whole.
        export: for ``export_svg`` / ``export_html``: it records what it prints, styled in
            truecolor as a terminal shows it (``NO_COLOR`` still holds). Otherwise plain text
            without control codes.
    """
    console = VisibleConsole(
        file=io.StringIO(),
        width=width,
        record=export,
        force_terminal=export,
        force_jupyter=False,
        color_system="truecolor" if export else None,
        no_color=None if export else True,
        highlight=False,
        emoji=False,
    )
    if measure is not None:
        console.width = max(needed_width(console, measure), width)
    return console


def render_text(
    renderable: RenderableType, *, measure: RenderableType | None = None, width: int | None = None
) -> str:
    """Plain text (no control codes), as wide as ``measure`` needs, trailing spaces stripped."""
    console = offscreen_console(width=width or MIN_WIDTH, measure=measure)
    with console.capture() as capture:
        console.print(renderable)
    return "\n".join(line.rstrip() for line in capture.get().splitlines()) + "\n"
