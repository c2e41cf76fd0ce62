"""stdout is the document: only the report reaches file descriptor 1.

``--format json`` output is read by programs, so nothing else may reach it: not a factory's
``os.write(1, …)``, not a native library's log (``ONEDNN_VERBOSE=1``), not a thread that
prints late. While the CLI runs, :func:`private_document` points file descriptor 1 at stderr
and keeps the real stdout on a private descriptor; ``sys.stdout`` becomes
:class:`DocumentStream`, which writes there for the main thread (the CLI) and sends other
threads' prints to stderr. Keras's prints in the main thread are already redirected by
:func:`shapetrace.cli.core.stdout_to_stderr`.

A stdout that cannot take the report (closed with ``>&-``, ``/dev/full``, a broken pipe) is
one :class:`~shapetrace.errors.OutputFailed` line, exit 1 — never a traceback. Under
``PYTHONIOENCODING=ascii`` characters the encoding lacks are written as ``\\u00b7`` escapes.
"""

from __future__ import annotations

import errno
import io
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from shapetrace.errors import OutputFailed

__all__ = ["DocumentStream", "private_document"]


def _failed(error: OSError) -> OutputFailed:
    reason = error.strerror or str(error)
    return OutputFailed(f"Cannot write the report to stdout ({reason}): nothing more was written.")


class _ClosedStdout(io.TextIOBase):
    """Where the report goes when the process started with file descriptor 1 closed."""

    def write(self, text: str) -> int:
        if not text:
            return 0
        raise OSError(errno.EBADF, "stdout is closed")

    def writable(self) -> bool:
        return True


class DocumentStream(io.TextIOBase):
    """``sys.stdout`` while the CLI runs: the main thread writes the report, other threads stderr."""

    def __init__(self, document: TextIO) -> None:
        self._document = document

    @property
    def document(self) -> TextIO:
        """The report's own stream, for a console of the CLI's that draws from a thread
        (rich's live progress refreshes the bar from one)."""
        return self._document

    @staticmethod
    def _elsewhere() -> bool:
        return threading.current_thread() is not threading.main_thread()

    def write(self, text: str) -> int:
        if self._elsewhere():
            if sys.stderr is not None:
                sys.stderr.write(text)
            return len(text)
        try:
            return self._document.write(text)
        except OSError as error:
            raise _failed(error) from None

    def flush(self) -> None:
        if self._elsewhere():
            return
        try:
            self._document.flush()
        except OSError as error:
            raise _failed(error) from None

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        try:
            return self._document.isatty()
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        return self._document.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._document, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self._document, "errors", None)


def _fd_is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


class _ToStderr(io.TextIOBase):
    """``sys.stdout`` after the report is complete: everything goes to stderr."""

    def write(self, text: str) -> int:
        if sys.stderr is not None:
            sys.stderr.write(text)
        return len(text)

    def writable(self) -> bool:
        return True


@contextmanager
def private_document(*, for_good: bool = False) -> Iterator[None]:
    """While the block runs: the report to the real stdout through a private descriptor,
    file descriptor 1 to stderr. A ``sys.stdout`` that is not descriptor 1 (a test's
    ``StringIO``) is left as it is.

    ``for_good``: when the block ends, close the report (its reader sees the end) and leave
    descriptor 1 on stderr for the rest of the process — for the console script, which owns
    the process: a thread of the user's that prints late, or a native library flushing its
    buffer at exit (``ONEDNN_VERBOSE``), must not reach the report either.
    """
    original = sys.stdout
    try:
        fd = original.fileno() if original is not None else None
    except (AttributeError, OSError, ValueError):
        fd = -1
    if fd is None or (fd == 1 and not _fd_is_open(1)):
        sys.stdout = DocumentStream(_ClosedStdout())  # type: ignore[arg-type]
        try:
            yield
        finally:
            sys.stdout = original
        return
    if fd != 1:
        yield
        return
    try:
        original.flush()
    except OSError:
        pass
    private = os.dup(1)
    if _fd_is_open(2):
        os.dup2(2, 1)
    else:  # stderr closed too: what libraries write to 1 goes nowhere
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.close(null)
    document = io.TextIOWrapper(
        io.FileIO(private, "w", closefd=False),
        encoding=original.encoding,
        errors="backslashreplace",
        line_buffering=getattr(original, "line_buffering", False),
    )
    sys.stdout = DocumentStream(document)
    try:
        yield
    finally:
        sys.stdout = original
        try:
            document.flush()
        except OSError:
            pass  # reported by the caller's own flush, when it still could
        try:
            document.close()
        except OSError:
            pass
        if for_good:
            sys.stdout = _ToStderr()
        else:
            os.dup2(private, 1)
        os.close(private)
