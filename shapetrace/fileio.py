"""Atomic file output: a reader sees the old file or the new one, never half of one.

Every file shapetrace writes (baselines, adapted models, checkpoints, plots, reports) goes
through here. Nothing here imports Keras, and nothing reads or changes the process umask:
the temporary file is created with ``os.open(..., 0o666)`` so the kernel applies the umask
itself, exactly as it would for ``open(path, "w")``. A file that already exists keeps its mode.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shapetrace.errors import UsageError

__all__ = ["atomic_path", "atomic_write", "cannot_write", "validate_writable"]


def cannot_write(path: Path | str, error: OSError) -> UsageError:
    """The one-line error for an ``OSError`` met while writing ``path``."""
    return UsageError(f"Cannot write {str(path)!r}: {error.strerror or error}.")


def _folder(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def _create_temporary(path: Path, suffix: str) -> Path:
    folder = _folder(path)
    if not folder.is_dir():
        raise UsageError(f"Cannot write {str(path)!r}: the folder {str(folder)!r} does not exist.")
    for _ in range(100):
        temporary = folder / f".{path.name}.{secrets.token_hex(4)}{suffix or '.tmp'}"
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        except OSError as error:
            raise cannot_write(path, error) from None
        os.close(fd)
        return temporary
    raise UsageError(f"Cannot write {str(path)!r}: no free temporary name in {str(folder)!r}.")


@contextmanager
def atomic_path(path: Path | str, *, suffix: str = "") -> Iterator[Path]:
    """Yield an empty temporary file beside ``path`` for a writer that wants a file name
    (``model.save``, ``figure.savefig``); rename it onto ``path`` when the block ends cleanly.

    Any exception (KeyboardInterrupt included) removes the temporary file and leaves ``path``
    as it was. ``suffix`` is for writers that choose a format by extension (``.keras``, ``.png``).
    """
    path = Path(path)
    temporary = _create_temporary(path, suffix)
    try:
        yield temporary
        if path.exists():
            os.chmod(temporary, path.stat().st_mode & 0o7777)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def atomic_write(
    path: Path | str, data: bytes | str, *, fsync: bool = False, raw_os_errors: bool = False
) -> None:
    """Write ``data`` (text is UTF-8 with ``\\n`` newlines) to ``path`` atomically.

    ``fsync`` flushes to disk before the rename, for files that must survive a power cut
    (training checkpoints' history). ``OSError`` becomes one-line :class:`UsageError`, unless
    ``raw_os_errors``: a caller that tells a full disk from bad input (training, which then
    leaves a resumable run) gets the ``OSError`` itself.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        with atomic_path(path) as temporary, open(temporary, "wb") as handle:
            handle.write(payload)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
    except OSError as error:
        if raw_os_errors:
            raise
        raise cannot_write(path, error) from None


def validate_writable(path: str | Path, option: str) -> Path:
    """Fail before any work when ``path`` cannot be written (missing folder, no permission)."""
    path = Path(path).expanduser()
    folder = _folder(path)
    if path.is_dir():
        raise UsageError(f"{option}={str(path)!r} is a directory: expected a file name.", param=option)
    if not folder.is_dir():
        raise UsageError(
            f"{option}={str(path)!r}: the folder {str(folder)!r} does not exist; create it first.",
            param=option,
        )
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(
            f"{option}={str(path)!r} is not writable: choose a path in a folder you can write to.",
            param=option,
        )
    return path
