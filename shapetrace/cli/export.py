"""``--svg`` / ``--html``: the report exactly as the terminal shows it, recorded by rich."""

from __future__ import annotations

from pathlib import Path

from rich.console import RenderableType

__all__ = ["validate_export_paths", "export_rendered"]


def validate_export_paths(svg: str | None, html: str | None) -> None:
    """Fail before any model is built when an export path cannot be written."""
    from shapetrace.fileio import validate_writable

    if svg is not None:
        validate_writable(svg, "svg")
    if html is not None:
        validate_writable(html, "html")


def export_rendered(
    renderable: RenderableType,
    measure: RenderableType,
    *,
    svg: str | None,
    html: str | None,
    title: str = "shapetrace",
) -> None:
    """Render once on a recording console as wide as the table needs, then save SVG and/or HTML."""
    if svg is None and html is None:
        return
    from shapetrace.fileio import atomic_write
    from shapetrace.render.text import offscreen_console

    console = offscreen_console(measure=measure, export=True)
    console.print(renderable)
    if svg is not None:
        text = console.export_svg(title=title, clear=False)
        atomic_write(Path(svg).expanduser(), text)
    if html is not None:
        text = console.export_html(inline_styles=True, clear=False)
        atomic_write(Path(html).expanduser(), text)
