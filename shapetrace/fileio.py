"""The one output writer: a reader sees the old file or the new one, never half of one.

Every file shapetrace writes (baselines, obtained files, adapted models, checkpoints, run
folders' files, plots, SVG/HTML reports) goes through :func:`atomic_path` or
:func:`atomic_write`, and every output path given on a command line is checked by
:func:`validate_writable` before any work starts. The rules, in one place:

- **Only regular files.** A path that exists and is a folder, a named pipe, a device, a
  socket — or a symbolic link, to anything — is refused with one line, never replaced:
  renaming over ``/dev/null`` or a ``/proc/self/fd/1`` link as root would destroy it, and
  writing through a link lets whoever planted it (a repository, for ``check``) choose the
  file that gets written. Write to the link's target itself, or remove the link.
- **Modes the writer chose.** The temporary is created with ``os.open(..., 0o666)``, so a new
  file gets the default mode under the umask (nothing here reads or changes the umask). A
  file that is replaced keeps its permission bits, but never setuid, setgid or sticky.
- **Names that fit.** A name longer than the file system allows is refused with its length
  and the limit; the temporary's name (``.NAME.1a2b3c4d.tmp``) is shortened to fit beside a
  name at the limit.
- **Nothing half-written, on any signal.** Any exception — ``KeyboardInterrupt`` and the
  CLI's SIGTERM (:mod:`shapetrace.interrupts`) included — removes the temporary, and a
  signal recorded while a library swallowed it stops the rename.

Nothing here imports Keras.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shapetrace.errors import UsageError
from shapetrace.interrupts import raise_if_interrupted

__all__ = [
    "atomic_path",
    "atomic_write",
    "cannot_write",
    "validate_writable",
    "refusal",
    "remove_stale",
    "name_limit",
]

DEFAULT_NAME_MAX = 255
"""Bytes in one file name on ext4, XFS, btrfs, APFS, NTFS: used where ``pathconf`` cannot tell."""
_KEPT_BITS = 0o777  # permission bits a replaced file keeps: never setuid, setgid or sticky
_TOKEN_CHARS = 8

_KINDS = (
    (stat.S_ISDIR, "a directory: expected a file name"),
    (stat.S_ISFIFO, "a named pipe (FIFO): shapetrace writes only regular files"),
    (stat.S_ISCHR, "a character device: shapetrace writes only regular files"),
    (stat.S_ISBLK, "a block device: shapetrace writes only regular files"),
    (stat.S_ISSOCK, "a socket: shapetrace writes only regular files"),
)


def cannot_write(path: Path | str, error: OSError) -> UsageError:
    """The one-line error for an ``OSError`` met while writing ``path``."""
    return UsageError(f"Cannot write {str(path)!r}: {error.strerror or error}.")


def _folder(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def name_limit(folder: Path) -> int:
    """The longest file name (in bytes) ``folder``'s file system accepts."""
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return DEFAULT_NAME_MAX


def refusal(path: Path | str) -> str | None:
    """Why shapetrace will not write ``path`` (a clause starting with "it"), or ``None`` when it may.

    Only ``stat``/``lstat``/``access`` are used: nothing is opened or created.
    """
    text = str(path)
    if "\x00" in text:
        return "it holds a NUL character, which no file system accepts"
    try:
        encoded_name = os.fsencode(Path(text).name)
    except UnicodeEncodeError:
        return "it holds characters the file system cannot encode (a lone surrogate)"
    path = Path(text)
    folder = _folder(path)
    try:
        folder_mode = os.stat(folder).st_mode
    except FileNotFoundError:
        return f"the folder {str(folder)!r} does not exist; create it first"
    except OSError as error:
        return f"the folder {str(folder)!r} cannot be used ({error.strerror or error})"
    if not stat.S_ISDIR(folder_mode):
        return f"{str(folder)!r} is not a folder"
    limit = name_limit(folder)
    if len(encoded_name) > limit:
        return f"its file name is {len(encoded_name)} bytes long; the file system allows at most {limit}"
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as error:
        if error.errno == errno.ENAMETOOLONG:
            return "the whole path is longer than the file system allows"
        return f"it cannot be checked ({error.strerror or error})"
    if mode is not None and stat.S_ISLNK(mode):
        return (
            f"it is a symbolic link (to {os.readlink(path)!r}): shapetrace never writes through a link; "
            "give the link's target itself, or remove the link"
        )
    if mode is not None and not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        return f"it is {kind}"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"it is not writable (the folder {str(folder)!r} is not): choose a folder you can write to"
    if mode is not None and not os.access(path, os.W_OK):
        return "it is not writable: choose a path you can write to"
    return None


def validate_writable(path: str | Path, option: str | None = None) -> Path:
    """Fail before any work when ``path`` cannot be written (see the rules above).

    Args:
        path: the output path as given (``~`` is expanded).
        option: the parameter that gave it, named in the message (``svg`` → ``--svg`` in the CLI).

    Returns:
        The path, expanded.
    """
    path = _expand(path)
    reason = refusal(path)
    if reason is not None:
        if option is None:
            raise UsageError(f"Cannot write {str(path)!r}: {reason}.")
        raise UsageError(f"Cannot write {option}={str(path)!r}: {reason}.", param=option)
    return path


def _expand(path: str | Path) -> Path:
    try:
        return Path(path).expanduser()
    except RuntimeError:  # ~nobody: no such user
        return Path(path)


def _temporary_name(path: Path, suffix: str, limit: int) -> str:
    """``.NAME.1a2b3c4d.tmp``, with NAME cut (in bytes) so the whole fits in ``limit``."""
    tail = f".{secrets.token_hex(_TOKEN_CHARS // 2)}{suffix or '.tmp'}"
    budget = max(limit - 1 - len(os.fsencode(tail)), 1)
    name = os.fsencode(path.name)[:budget]
    return "." + os.fsdecode(name) + tail


def _create_temporary(path: Path, suffix: str) -> Path:
    folder = _folder(path)
    limit = name_limit(folder)
    for _ in range(100):
        temporary = folder / _temporary_name(path, suffix, limit)
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

    Any exception (``KeyboardInterrupt`` and SIGTERM included) removes the temporary file and
    leaves ``path`` as it was. ``suffix`` is for writers that choose a format by extension
    (``.keras``, ``.png``).

    Raises:
        UsageError: ``path`` may not be written (a folder, a link, a device, a name too long…).
    """
    path = validate_writable(path)
    temporary = _create_temporary(path, suffix)
    try:
        yield temporary
        raise_if_interrupted()  # a Ctrl-C a library callback swallowed: nothing is renamed into place
        try:
            existing = os.lstat(path)
        except FileNotFoundError:
            existing = None
        if existing is not None and stat.S_ISREG(existing.st_mode):
            os.chmod(temporary, existing.st_mode & _KEPT_BITS)
        elif existing is not None:  # became a link or a device since it was checked
            raise UsageError(f"Cannot write {str(path)!r}: {refusal(path) or 'it is not a regular file'}.")
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
    # A lone surrogate (from a model's name) cannot be UTF-8: written as ``\\udXXX``, which
    # inside a JSON string reads back as the same character.
    payload = data.encode("utf-8", "backslashreplace") if isinstance(data, str) else data
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


def remove_stale(path: Path | str) -> None:
    """Remove a file a former run left (a stale ``.obtained.json``) when it can be removed.

    Best effort: in a read-only checkout, or when the name is not ours to remove, the file
    stays — a failure to tidy is not a failure of the work.
    """
    try:
        os.unlink(path)
    except (OSError, ValueError):
        pass
