"""Ctrl-C and SIGTERM that always end the run, even when a library swallows the exception.

Python turns SIGINT into ``KeyboardInterrupt`` wherever the main thread happens to be. When
that is a garbage-collector callback or a ``__del__`` of a backend library, Python prints
"Exception ignored in …" and carries on: the run would complete and exit 0. So the CLI's
entry point installs :func:`handling_signals`: the handler *records* the signal before
raising, and the work checks the record at safe points (:func:`raise_if_interrupted`) — the
one output writer before it renames a file into place (:mod:`shapetrace.fileio`), and the
CLI before it reports success. A recorded interrupt is never forgotten.

SIGTERM is handled like SIGINT (:class:`Terminated` is a ``KeyboardInterrupt``, so every
``finally`` and ``except BaseException`` that removes a temporary runs) and ends the process
with 143, as a shell reports a process killed by SIGTERM; Ctrl-C ends it with 130.

Only the CLI installs the handlers (importing shapetrace changes no signal disposition); the
library's checks are no-ops when nothing was recorded.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from shapetrace.errors import Terminated

__all__ = [
    "Terminated",
    "handling_signals",
    "raise_if_interrupted",
    "interrupted_code",
    "interrupt_exit_code",
]

_pending: int | None = None  # the number of the signal received and not yet acted on


def interrupt_exit_code(signum: int) -> int:
    """The shell's convention: 128 + the signal's number (130 for SIGINT, 143 for SIGTERM)."""
    return 128 + signum


def interrupted_code() -> int | None:
    """The exit code of a recorded, unhandled signal (``None`` when there is none)."""
    return None if _pending is None else interrupt_exit_code(_pending)


def raise_if_interrupted() -> None:
    """Raise again a signal that was recorded (and perhaps swallowed by a library callback)."""
    if _pending is not None:
        raise Terminated() if _pending == signal.SIGTERM else KeyboardInterrupt()


def _handle(signum: int, frame: FrameType | None) -> None:
    global _pending
    _pending = signum
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


@contextmanager
def handling_signals() -> Iterator[None]:
    """Record and raise SIGINT and SIGTERM while the block runs; restore the old handlers after.

    Outside the main thread (signals go to the main thread only) nothing is installed.
    """
    global _pending
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _pending = None
    saved: dict[int, Any] = {}
    signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        try:
            saved[signum] = signal.signal(signum, _handle)
        except (OSError, ValueError):  # a platform without it, or an embedding that owns it
            continue
    previous_hook = sys.unraisablehook

    def quiet_when_recorded(unraisable: Any) -> None:
        # "Exception ignored in …" with a traceback, for the interrupt this module recorded
        # and will act on: noise on stderr, where one line says "interrupted".
        if isinstance(unraisable.exc_value, KeyboardInterrupt) and _pending is not None:
            return
        previous_hook(unraisable)

    sys.unraisablehook = quiet_when_recorded
    try:
        yield
    finally:
        sys.unraisablehook = previous_hook
        for signum, handler in saved.items():
            signal.signal(signum, handler)
        _pending = None
