"""Checking a baseline: run its trace again (or take one already run), diff, settle the files.

The outcome is a :class:`CheckResult`. When the trace differs, the new baseline is written
beside the old one (``shapes.obtained.json``) with the exact command that accepts it; with
``update`` the baseline is rewritten instead. A missing baseline is created only on request
and never in CI.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shapetrace.baselines.baseline import load_baseline, obtained_path, write_baseline
from shapetrace.baselines.diff import ShapeDiff, diff_traces
from shapetrace.baselines.rerun import rerun
from shapetrace.display import Displayable
from shapetrace.errors import UsageError
from shapetrace.fileio import remove_stale
from shapetrace.records import Trace

__all__ = ["CheckResult", "check_baseline", "check_trace", "in_ci"]


@dataclass(frozen=True)
class CheckResult(Displayable):
    """The outcome of checking one baseline."""

    baseline: Path
    status: str
    """``match``, ``differs``, ``updated`` (rewritten with --update) or ``created``."""
    diff: ShapeDiff | None = None
    obtained: Path | None = None
    """Where the new trace was written when it differs (``shapes.obtained.json``)."""
    accept_command: str | None = None
    """The exact command that accepts the change."""

    @property
    def failed(self) -> bool:
        return self.status == "differs"

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline": str(self.baseline),
            "status": self.status,
            "failed": self.failed,
            "diff": None if self.diff is None else self.diff.to_dict(),
            "obtained": None if self.obtained is None else str(self.obtained),
            "accept_command": self.accept_command,
            "error": None,
        }


def check_trace(
    trace: Trace,
    path: str | Path,
    *,
    update: bool = False,
    accept_command: str | None = None,
    update_hint: str = "update=True",
) -> CheckResult:
    """Compare a trace already run with the baseline ``path``.

    A missing baseline is written only when ``update`` is true and the ``CI``
    environment variable is not set; otherwise it raises.

    Raises:
        UsageError: invalid baseline, or a missing one that may not be created.
    """
    path = Path(path)
    if not path.exists():
        if update and not in_ci():
            write_baseline(trace, path)
            return CheckResult(path, "created")
        if in_ci():
            raise UsageError(
                f"Baseline {str(path)!r} does not exist, and CI is set, so it is not created here: "
                f"create it locally with {update_hint}, review it and commit it.",
                param="update",
            )
        raise UsageError(
            f"Baseline {str(path)!r} does not exist: create it with {update_hint}, review it and commit it.",
            param="update",
        )
    return _settle(path, load_baseline(path), trace, update=update, accept_command=accept_command)


def check_baseline(
    path: str | Path,
    *,
    update: bool = False,
    unsafe_load: bool = False,
    imports: Sequence[str] | None = None,
    on_layer: Callable[[int], None] | None = None,
    on_walk_start: Callable[[int | None], None] | None = None,
) -> CheckResult:
    """Re-run the trace the baseline ``path`` describes and compare.

    Args:
        path: a baseline written by :func:`snapshot`.
        update: rewrite the baseline when it differs.
        unsafe_load: allow a saved model file to run the code it carries.
        imports: extra ``--import`` code given on the command line (the user's choice).
        on_layer, on_walk_start: progress callbacks, as for :func:`shapetrace.trace`.

    Returns:
        A :class:`CheckResult`; ``status`` is ``differs`` when the shapes changed.

    Raises:
        UsageError: a missing, unreadable or invalid baseline, one that names code from
            outside the project, or a model that cannot be loaded.
    """
    path = Path(path)
    baseline = load_baseline(path)
    trace = rerun(
        baseline,
        path,
        unsafe_load=unsafe_load,
        imports=imports,
        on_layer=on_layer,
        on_walk_start=on_walk_start,
    )
    command = f"shapetrace check {shlex.quote(str(path))} --update" + (
        " --unsafe-load" if unsafe_load else ""
    )
    return _settle(path, baseline, trace, update=update, accept_command=command)


def _settle(
    path: Path, baseline: Trace, now: Trace, *, update: bool, accept_command: str | None
) -> CheckResult:
    diff = diff_traces(baseline, now)
    obtained = obtained_path(path)
    if not diff.differs:
        remove_stale(obtained)  # a stale artifact of an earlier failure would mislead
        return CheckResult(path, "match", diff)
    if update:
        write_baseline(now, path)
        remove_stale(obtained)
        return CheckResult(path, "updated", diff)
    write_baseline(now, obtained)
    return CheckResult(path, "differs", diff, obtained, accept_command)


def in_ci() -> bool:
    """True when the ``CI`` environment variable is set (to anything but ``0``/``false``)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
