"""Reading input that may be hostile or absurd: file kinds, bounded reads, bounded JSON.

A baseline, a model file and a weights file are data that someone else may have
written. Whatever they hold, reading them must end in a value or in one
:class:`~shapetrace.errors.UsageError` line — never a hang (a FIFO), an exhausted
memory (a zip member that inflates to gigabytes) or a ``RecursionError`` (``[`` nested
100,000 deep).

Importing this module does not import TensorFlow.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from shapetrace.errors import UsageError

__all__ = [
    "MEMBER_LIMIT",
    "MAX_JSON_DEPTH",
    "not_a_file_reason",
    "user_path",
    "require_file",
    "read_capped",
    "too_large",
    "parse_json",
    "json_depth",
]

MEMBER_LIMIT = 64 * 1024 * 1024
"""Bytes read at most from one JSON document: an archive's ``config.json``/``metadata.json``,
an ``.h5`` file's ``model_config`` or a baseline. Real ones are a few MB at most."""

MAX_JSON_DEPTH = 200
"""Nesting depth a JSON document may have. Keras configs of deeply nested models reach
about 30; beyond this the readers (and Keras) would recurse past Python's limit."""

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def user_path(text: str) -> Path:
    """``~/x`` expanded; ``~nobody/x`` (no such user) kept as typed instead of raising."""
    try:
        return Path(text).expanduser()
    except RuntimeError:
        return Path(text)


def not_a_file_reason(path: Path) -> str | None:
    """Why ``path`` is not a regular file (``None`` when it is one), without opening it.

    Opening a FIFO would block and reading ``/dev/zero`` never ends, so only ``stat`` is used.
    """
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            return f"is a broken symbolic link (to {os.readlink(path)!r})"
        return "does not exist"
    except PermissionError:
        return "cannot be read (permission denied)"
    except OSError as error:
        return f"cannot be read ({error.strerror or error})"
    except ValueError:  # a NUL character: no file system accepts it
        return "is not a valid path (it holds a NUL character)"
    if stat.S_ISREG(mode):
        return None
    kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    if os.path.islink(path):
        return f"is a symbolic link to {os.path.realpath(path)!r}, {kind}"
    return f"is {kind}"


def require_file(path: Path, what: str, expected: str, param: str | tuple[str, ...] = ()) -> None:
    """Raise one line when ``path`` is not a regular file: ``"{what} 'x' is a folder: expected …"``."""
    reason = not_a_file_reason(path)
    if reason is None:
        return
    where = "" if Path(path).is_absolute() else f" (relative to {str(Path.cwd())!r})"
    raise UsageError(
        f"{what} {str(path)!r} {reason}{where if reason == 'does not exist' else ''}: expected {expected}.",
        param=param,
    )


def too_large(what: str, limit: int = MEMBER_LIMIT) -> UsageError:
    """The one-line refusal of a document larger than ``limit``."""
    return UsageError(
        f"{what} is larger than {limit // (1024 * 1024)} MiB: refusing to read it (a real one is a few MB)."
    )


def read_capped(stream: IO[bytes], limit: int, what: str) -> bytes:
    """Read ``stream`` to its end, refusing more than ``limit`` bytes (sizes in headers can lie)."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise too_large(what, limit)
    return data


def json_depth(value: Any) -> int:
    """How deeply lists and objects nest in ``value`` (``0`` for a scalar), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Iterable[Any] = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, depth)
        if depth > MAX_JSON_DEPTH:
            break
        stack.extend((child, depth + 1) for child in children)
    return deepest


def parse_json(raw: bytes | str, what: str, fix: str) -> Any:
    """``json.loads`` that ends in one :class:`UsageError` line for text that is not sane JSON.

    Args:
        raw: the document.
        what: how to name it in the message (``"Baseline 'x.json'"``).
        fix: what to do about it, appended to the message.
    """
    try:
        data = json.loads(raw)
    except RecursionError:
        data = None
        too_deep = True
    except UnicodeDecodeError:
        raise UsageError(f"{what} is not UTF-8 text: {fix}") from None
    except ValueError as error:
        detail = (
            f"{error.msg} at line {error.lineno}, column {error.colno}"
            if isinstance(error, json.JSONDecodeError)
            else str(error)
        )
        raise UsageError(f"{what} is not valid JSON ({detail}): {fix}") from None
    else:
        too_deep = json_depth(data) > MAX_JSON_DEPTH
    if too_deep:
        raise UsageError(f"{what} nests lists or objects more than {MAX_JSON_DEPTH} deep: {fix}")
    return data
