"""How a result shows itself in Jupyter and to rich, without records importing any rendering.

Records stay pure data: :class:`Displayable` adds only the two display hooks, and each one
imports :mod:`shapetrace.render.notebook` when a notebook (or rich) first asks for it — so
``import shapetrace`` and building records never load rich or the renderers.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Displayable"]


class Displayable:
    """Mixin for result records: ``_repr_html_`` (Jupyter) and ``__rich__`` (rich, in a
    notebook or a terminal), both from the renderers the CLI uses."""

    __slots__ = ()

    def _repr_html_(self) -> str:
        from shapetrace.render.notebook import html_of

        return html_of(self)

    def __rich__(self) -> Any:
        from shapetrace.render.notebook import renderable_of

        return renderable_of(self)
