"""How a result shows itself in Jupyter and to rich, without records importing any rendering.

Records stay pure data: :class:`Displayable` adds only the display hooks. They call the renderers
(:mod:`shapetrace.render.notebook`) through :func:`use_renderers`, which the package's public face
(``shapetrace/__init__.py``, above every floor, run before any submodule) calls once: this module
imports nothing above it, and ``import shapetrace`` and building records never load rich or the
renderers.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

__all__ = ["Displayable", "use_renderers"]

_load: Callable[[], ModuleType] | None = None


def use_renderers(load: Callable[[], ModuleType]) -> None:
    """Wire the display hooks: ``load()`` returns the module holding ``html_of``,
    ``summary_line`` and ``renderable_of`` (imported when something first shows a record)."""
    global _load
    _load = load


def _renderers() -> ModuleType:
    if _load is None:  # shapetrace/__init__.py always runs first; only a broken install gets here
        raise RuntimeError("shapetrace's display hooks are not wired: import shapetrace first")
    return _load()


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
