"""How a result shows itself in Jupyter and to rich, without records importing any rendering.

Records stay pure data: :class:`Displayable` adds only the display hooks, and they import
:mod:`shapetrace.render.notebook` when a notebook (or rich) first asks for it — so
``import shapetrace`` and building records never load rich or the renderers.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

__all__ = ["Displayable"]


def _renderers() -> ModuleType:
    """:mod:`shapetrace.render.notebook`, imported on first use: the one import from here up to the
    renderers, lazy so that records load no rendering until something shows them."""
    from shapetrace.render import notebook

    return notebook


class Displayable:
    """Mixin for result records: ``_repr_html_`` (Jupyter), ``_repr_pretty_`` (IPython's plain
    text: one line) and ``__rich__`` (rich, in a notebook or a terminal), from the CLI's renderers."""

    __slots__ = ()

    def _repr_html_(self) -> str:
        return _renderers().html_of(self)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # IPython takes a class's own ``__repr__`` (which @dataclass writes) before an inherited
        # ``_repr_pretty_``: the hook must sit on the class itself to be used.
        cls._repr_pretty_ = Displayable._repr_pretty_  # type: ignore[method-assign]

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        # IPython's text/plain (kept in a notebook beside the HTML): one line, not the whole record.
        printer.text(_renderers().summary_line(self))

    def __rich__(self) -> Any:
        return _renderers().renderable_of(self)
