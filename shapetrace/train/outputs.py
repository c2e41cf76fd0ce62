"""The run folder: what goes in it, atomic writes, and whether a folder may be (re)used.

Every file goes through :func:`shapetrace.fileio.atomic_path`; the run's own files are written
with ``raw_os_errors``, which lets ``OSError`` through, so that a full disk stops training with a
resumable run folder (see ``train/run.py``).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shapetrace.errors import UsageError
from shapetrace.fileio import atomic_path, atomic_write
from shapetrace.messages import one_line

__all__ = ["RunFolder", "FILES", "SCHEMA"]

SCHEMA = "shapetrace.train/1"
FILES = {
    "config": "config.json",
    "state": "state.json",
    "history": "history.csv",
    "metrics": "metrics.json",
    "curves": "curves.png",
    "trace": "trace.json",
    "model": "model.keras",
    "best": "best.keras",
}
"""Everything a run writes at the top of its folder (plus ``checkpoints/``)."""
CHECKPOINTS = "checkpoints"
LOCK = ".train.lock"
"""Held (``flock``) by the ``train`` process writing the folder; removed when it ends."""
_CHECKPOINT_NAME = re.compile(r"checkpoints/epoch-\d{4,}\.keras")
_STATE_TYPES: dict[str, tuple[type, ...]] = {
    "epochs_completed": (int,),
    "finished": (bool,),
    "checkpoint": (str,),
    "best": (dict,),
}
# fileio names a temporary ``.<name>.<random><suffix>`` (``.state.json.1a2b3c4d.tmp``,
# ``.model.keras.1a2b3c4d.keras``); runs of earlier releases left ``.model.x1y2.keras``.
_TEMPORARY = re.compile(
    r"\.(?:" + "|".join(re.escape(n) for n in FILES.values()) + r")\.[A-Za-z0-9_]+\.(?:tmp|keras)"
    r"|\.(?:"
    + "|".join(re.escape(n.removesuffix(".keras")) for n in FILES.values() if n.endswith(".keras"))
    + r")\.[A-Za-z0-9_]+\.keras"
)
_CHECKPOINT_TEMPORARY = re.compile(r"\.epoch-\d{4,}(?:\.keras)?\.[A-Za-z0-9_]+\.keras")
HISTORY_COLUMNS = ("epoch", "phase", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds")


def atomic_save_model(model: Any, path: Path) -> None:
    """``model.save`` to a temporary ``.keras`` file beside ``path``, then rename."""
    with atomic_path(path, suffix=".keras") as temporary:
        model.save(temporary)


def atomic_copy(source: Path, path: Path) -> None:
    """Make ``path`` a copy of ``source`` atomically: a hard link when the filesystem allows it
    (no second 50 MB write per improved epoch; deleting the source later leaves it intact)."""
    with atomic_path(path) as temporary:
        temporary.unlink()  # the name stays ours: only this process links or copies onto it
        try:
            os.link(source, temporary)
        except OSError:
            shutil.copyfile(source, temporary)


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, allow_nan=False) + "\n"


@dataclass(frozen=True)
class RunFolder:
    root: Path

    def path(self, key: str) -> Path:
        return self.root / FILES[key]

    @property
    def checkpoints(self) -> Path:
        return self.root / CHECKPOINTS

    def checkpoint(self, epoch: int) -> Path:
        return self.checkpoints / f"epoch-{epoch:04d}.keras"

    # -- deciding whether the folder may be used ---------------------------------------------

    def validate_writable(self) -> None:
        """Prove the folder can be written without creating it (it is made only when training starts)."""
        try:
            if self.root.exists():
                if not self.root.is_dir():
                    raise NotADirectoryError(20, "it is a file")
                fd, probe = tempfile.mkstemp(dir=self.root, prefix=".write-check.")
                os.close(fd)
                os.unlink(probe)
                return
            ancestor = self.root.parent
            while not ancestor.exists():
                ancestor = ancestor.parent
            if not ancestor.is_dir():
                raise NotADirectoryError(20, f"{ancestor} is a file")
            if not os.access(ancestor, os.W_OK | os.X_OK):
                raise PermissionError(13, f"{ancestor} is not writable")
        except OSError as error:
            raise UsageError(
                f"Cannot write to output={str(self.root)!r} ({error.strerror or error}): choose a "
                "folder you can write to.",
                param="output",
            ) from None

    def stored(self) -> tuple[dict | None, dict | None]:
        """``(config.json, state.json)`` as stored, or ``None`` for each that is missing."""

        def read(key: str) -> dict | None:
            path = self.path(key)
            if not path.exists():
                return None
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                raise self.damaged(path, str(error)) from None
            if not isinstance(data, dict):
                raise self.damaged(path, f"expected a JSON object, got {type(data).__name__}")
            return data

        config, state = read("config"), read("state")
        if state is not None:
            self._check_state(state)
        return config, state

    def damaged(self, path: Path, reason: str) -> UsageError:
        """The one line for a run folder file that was edited into something else."""
        return UsageError(
            f"{str(path)!r} is damaged ({reason}): the run folder was edited or corrupted; use "
            "overwrite=True or another `output`.",
            param=("overwrite", "output"),
        )

    def _check_state(self, state: dict) -> None:
        """Every field of ``state.json`` of the type training writes; the checkpoint a file of
        this run's ``checkpoints/`` (never a path elsewhere: it is loaded with Keras)."""
        path = self.path("state")
        for key, kinds in _STATE_TYPES.items():
            value = state.get(key)
            if value is None:
                continue
            if not isinstance(value, kinds) or (
                isinstance(value, int) and kinds == (int,) and (isinstance(value, bool) or value < 0)
            ):
                raise self.damaged(path, f"{key} is {value!r}")
        checkpoint = state.get("checkpoint")
        if checkpoint is None:
            return
        if not _CHECKPOINT_NAME.fullmatch(checkpoint):
            raise self.damaged(path, f"checkpoint {checkpoint!r} is not a file of this run's checkpoints/")
        mode = None
        try:
            mode = os.lstat(self.root / checkpoint).st_mode
        except OSError:
            pass
        if mode is None or not stat.S_ISREG(mode):
            raise self.damaged(path, f"checkpoint {checkpoint!r} is missing or not a regular file")

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the folder while this process trains in it: a second ``train`` on the same
        folder is refused with one line instead of interleaving two runs' checkpoints."""
        import fcntl

        self.root.mkdir(parents=True, exist_ok=True)
        lock_path = self.root / LOCK
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise UsageError(
                    f"output={str(self.root)!r} is in use by another `shapetrace train` (its lock "
                    f"{LOCK!r} is held): wait for it to end, or choose another `output`.",
                    param="output",
                ) from None
            try:
                yield
            finally:
                lock_path.unlink(missing_ok=True)
        finally:
            os.close(fd)

    def is_empty(self) -> bool:
        return not self.root.exists() or not any(p.name != LOCK for p in self.root.iterdir())

    def clear(self) -> None:
        """Remove this run's own files (and only those) for ``--overwrite``."""
        self.remove_temporaries()
        for name in FILES.values():
            (self.root / name).unlink(missing_ok=True)
        if self.checkpoints.is_dir():
            shutil.rmtree(self.checkpoints)

    def temporaries(self) -> list[Path]:
        """Temporary files our atomic writes leave when the process is killed mid-write
        (``.state.json.x1y2.tmp``, ``.model.x1y2.keras``, ``checkpoints/.epoch-0003.x1y2.keras``)."""
        found = []
        if self.root.is_dir():
            found += [p for p in self.root.iterdir() if _TEMPORARY.fullmatch(p.name) and p.is_file()]
        if self.checkpoints.is_dir():
            found += [
                p
                for p in self.checkpoints.iterdir()
                if _CHECKPOINT_TEMPORARY.fullmatch(p.name) and p.is_file()
            ]
        return sorted(found)

    def remove_temporaries(self) -> list[Path]:
        """Delete :meth:`temporaries` (a resumed or replaced run owns them; nobody else does)."""
        removed = self.temporaries()
        for path in removed:
            path.unlink(missing_ok=True)
        return removed

    # -- writing --------------------------------------------------------------------------

    def write(self, key: str, data: bytes | str) -> None:
        """One of the run's files, flushed to disk, ``OSError`` let through (see above)."""
        atomic_write(self.path(key), data, fsync=True, raw_os_errors=True)

    def write_json(self, key: str, data: dict) -> None:
        self.write(key, to_json(data))

    def write_history(self, rows: list[dict]) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=HISTORY_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k) for k in HISTORY_COLUMNS})
        self.write("history", buffer.getvalue())

    def read_history(self) -> list[dict]:
        path = self.path("history")
        if not path.exists():
            return []
        try:
            with path.open(encoding="utf-8", newline="") as handle:
                rows = list(csv.DictReader(handle))
            out: list[dict[str, Any]] = []
            for row in rows:
                phase = row.get("phase")
                if not isinstance(phase, str):
                    raise ValueError(f"row {len(out) + 1} has no phase")
                parsed: dict[str, Any] = {"epoch": int(row["epoch"] or ""), "phase": phase}
                for key in HISTORY_COLUMNS[2:]:
                    value = row.get(key)
                    parsed[key] = float(value) if value not in (None, "") else None
                out.append(parsed)
        except (OSError, ValueError, TypeError, KeyError, csv.Error) as error:
            raise self.damaged(path, one_line(error, 120)) from None
        return out
