"""What shapetrace is doing right now: a transient status line on stderr, on a terminal only.

Importing Keras and its backend and building a big model take seconds with nothing on screen; a
spinner that says which step is running (and how far the probe got) makes the wait
legible. It is transient — erased before the table prints — and it exists only when
stderr is a terminal: piped output, logs and JSON never see it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.status import Status

__all__ = ["WorkStatus", "backend_loaded", "importing_message"]


def backend_loaded() -> bool:
    """Keras and its backend are loaded (TensorFlow, or JAX/PyTorch when that is the backend)."""
    return "shapetrace.tracing._keras_graph" in sys.modules


def importing_message() -> str:
    from shapetrace.backends import BACKEND_TITLES, configured_backend

    backend = configured_backend()
    return f"importing {BACKEND_TITLES.get(backend, backend)}"


class WorkStatus:
    """A context manager: ``with WorkStatus(console) as status: status.say("building …")``.

    Every method is a no-op when the console is not a terminal, so commands call them
    unconditionally.
    """

    def __init__(self, console: Console, *, prefix: str = "") -> None:
        self.console = console
        self.enabled = console.is_terminal
        self.prefix = prefix
        """Put before every message (e.g. the baseline being checked)."""
        self._status: Status | None = None
        self._total: int | None = None

    def __enter__(self) -> WorkStatus:
        if self.enabled:
            self._status = Status("", console=self.console, spinner="dots")
            self._status.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Erase the status line (it is transient); later messages are ignored."""
        if self._status is not None:
            self._status.stop()
            self._status = None

    def say(self, message: str, *, now: bool = False) -> None:
        """Show ``message``; ``now`` draws it at once (before a step that blocks the screen)."""
        if self._status is None:
            return
        text = escape(self.prefix + message)
        if now:
            self._status.update(text, spinner="dots")  # a new spinner forces a refresh
        else:
            self._status.update(text)

    def import_backend(self) -> None:
        """Import Keras and its backend (muted, as shapetrace always does) under their own status message."""
        if backend_loaded():
            return
        self.say(importing_message() + "…", now=True)
        from shapetrace.tracing import _keras_graph  # noqa: F401  (imports keras and its backend)

    def making(self, model: str) -> None:
        """Before ``shapetrace.trace(model)``: import TensorFlow, then say what builds the model.

        TensorFlow is imported up front only for an application name: a user model's own
        checks (a missing file, an unsafe one) must still fail before TensorFlow loads.
        """
        if not self.enabled:
            return
        step, application = _model_step(model)
        if application:
            self.import_backend()
        elif not backend_loaded():
            step = importing_message() + ", then " + step
        self.say(step, now=True)

    # Progress callbacks of shapetrace.trace (on_walk_start, on_layer).

    def walk_start(self, total: int | None) -> None:
        self._total = total
        self.say("running the probe…")

    def layer_done(self, done: int) -> None:
        if self._total:
            self.say(f"running the probe through layer {done:,} of {max(done, self._total):,}")
        else:
            self.say(f"running the probe through layer {done:,}")

    def trace_callbacks(self, walks: Sequence[str] = ()) -> dict[str, Any]:
        """The keywords to pass to ``shapetrace.trace`` (or to a function that traces several
        times: ``walks`` names each walk, in order, before its progress)."""
        if not self.enabled:
            return {}
        base = self.prefix
        started: list[int | None] = []

        def start(total: int | None) -> None:
            if walks:
                self.prefix = f"{base}{walks[min(len(started), len(walks) - 1)]}: "
            started.append(total)
            self.walk_start(total)

        return {"on_walk_start": start, "on_layer": self.layer_done}


def _model_step(model: str) -> tuple[str, bool]:
    """How making ``model`` is called on the status line, and whether it is an application."""
    from shapetrace.errors import ShapetraceError
    from shapetrace.models.catalog import resolve_application

    try:
        return f"building {resolve_application(model).key}…", True
    except ShapetraceError:
        pass
    if ":" in model and not model.lower().endswith((".keras", ".h5", ".hdf5")):
        return f"calling {model}…", False
    return f"loading {model}…", False
