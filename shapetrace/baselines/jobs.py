"""Checking many baselines: user code in child processes, ``--jobs`` and ``--shard``.

A baseline's re-run may run the project's own code (a factory, its ``imports``, a model file
loaded with ``unsafe_load``). That code can end the process (``os._exit(0)``), crash it or
register custom objects that would change how a later baseline loads. So such a re-run
runs in a *child process* of its own, started with the ``spawn`` method (a fresh
interpreter: never a ``fork`` of a process that has TensorFlow loaded) and used for that one
baseline only. A child that ends without sending its result is a failure of that baseline
with the reason (its exit code or signal), never a silent pass; the other baselines are
still checked.

Serially (``jobs=1``) a baseline that runs no user code (an application name, a model file
in safe mode) is re-run in this process, which saves a TensorFlow import per baseline;
with ``jobs > 1`` every baseline gets its own child, at most ``jobs`` at a time. Either
way each child checks exactly as :func:`shapetrace.baselines.check.check_baseline` does (it writes
the ``.obtained.json`` file or the update itself), and outcomes come back in the order
the baselines were given, so the two runs print and exit the same.

``multiprocessing`` processes are managed here rather than by
``concurrent.futures.ProcessPoolExecutor``: one worker that dies breaks that pool for every
pending task, while here it fails only its own baseline.

Importing this module does not import TensorFlow.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
import sys
import traceback
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from shapetrace.baselines.check import CheckResult
from shapetrace.errors import EXIT_FAILED, EXIT_INTERNAL, EXIT_USAGE, ShapetraceError, UsageError

__all__ = [
    "WORKER_MEMORY",
    "CheckError",
    "Outcome",
    "check_all",
    "resolve_jobs",
    "parse_shard",
    "shard_of",
    "select_shard",
]

WORKER_MEMORY = 1 << 30
"""Memory one check worker needs, in bytes: 1 GiB. Measured as the peak resident size of a
fresh worker that imports TensorFlow and traces EfficientNetB0 at 224x224 (0.9 GiB with
TensorFlow 2.21 on CPU), rounded up; larger models need more."""


@dataclass(frozen=True)
class CheckError:
    """A baseline that could not be checked: its one-line message and exit code."""

    baseline: Path
    message: str
    exit_code: int
    params: tuple[str, ...] = ()
    """Parameters the message names (the CLI speaks them as flags)."""
    details: str | None = None
    """The traceback, where there is one (shown with ``--debug``)."""

    @property
    def failed(self) -> bool:
        return True

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        # The layout of CheckResult.to_dict(), whatever happened to this baseline.
        return {
            "baseline": str(self.baseline),
            "status": "error",
            "failed": True,
            "diff": None,
            "obtained": None,
            "accept_command": None,
            "error": self.message,
        }


Outcome = CheckResult | CheckError


# --------------------------------------------------------------------------- --jobs


def available_memory() -> int | None:
    """Bytes this process may still use: the smaller of the system's available memory and
    what its cgroup limit leaves; ``None`` when neither can be read."""
    figures = []
    try:
        with open("/proc/meminfo", encoding="ascii") as stream:
            for line in stream:
                if line.startswith("MemAvailable:"):
                    figures.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
            figures.append(int(limit) - used)
    except (OSError, ValueError):
        pass
    return min(figures) if figures else None


def cores() -> int:
    """The cores this process may run on (its CPU affinity), not all the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def resolve_jobs(jobs: str | int, count: int) -> int:
    """The number of worker processes for ``count`` baselines.

    ``"auto"``: the cores available to this process, no more than fit in memory (at least
    one). A number is taken as given (no more than ``count``), but refused when that many
    workers cannot fit in the available memory.

    Raises:
        UsageError: not a positive number or ``auto``, or more workers than memory allows.
    """
    text = str(jobs).strip().lower()
    memory = available_memory()
    fit = None if memory is None else max(1, memory // WORKER_MEMORY)
    if text == "auto":
        wanted = cores() if fit is None else min(cores(), fit)
        return max(1, min(wanted, count))
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise UsageError(
            f"jobs={jobs!r} is not a number of processes: use jobs=2 or jobs=auto.", param="jobs"
        )
    number = min(number, max(count, 1))
    if number > 1 and memory is not None and number * WORKER_MEMORY > memory:
        raise UsageError(
            f"jobs={number} needs about {number * WORKER_MEMORY / 2**30:.1f} GiB "
            f"({WORKER_MEMORY / 2**30:.1f} GiB per worker) but {memory / 2**30:.1f} GiB is available: "
            f"use jobs={fit} or fewer (jobs=auto picks what fits).",
            param="jobs",
        )
    return number


# --------------------------------------------------------------------------- --shard


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/4"`` → ``(2, 4)``: the second of four shards.

    Raises:
        UsageError: not ``K/N`` with ``1 <= K <= N``.
    """
    parts = text.strip().split("/")
    try:
        k, n = (int(part) for part in parts)
    except ValueError:
        k = n = 0
    if len(parts) != 2 or not 1 <= k <= n:
        raise UsageError(
            f"shard={text.strip() or repr(text)} is not a shard: expected K/N with 1 <= K <= N, e.g. shard=1/4.",
            param="shard",
        )
    return k, n


def portable_name(path: str | Path) -> str:
    """The baseline's path relative to its project root, with ``/``: the same on every
    machine and from every working directory (see :func:`shapetrace.baselines.project.project_root`)."""
    from shapetrace.baselines.project import project_root

    resolved = Path(os.path.abspath(path))
    root = project_root(resolved.parent)
    try:
        return resolved.relative_to(root).as_posix()
    except ValueError:
        return resolved.as_posix()


def shard_of(path: str | Path, shards: int) -> int:
    """The shard (1…``shards``) a baseline belongs to: a hash of its portable name, so the
    split depends neither on the order the baselines are given in nor on the machine."""
    digest = hashlib.sha256(portable_name(path).encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") % shards + 1


def select_shard(paths: Sequence[Path], shard: tuple[int, int]) -> list[Path]:
    """The baselines of shard ``K`` of ``N``, in the order given."""
    k, n = shard
    return [path for path in paths if shard_of(path, n) == k]


# --------------------------------------------------------------------------- checking


def runs_user_code(path: Path, *, unsafe_load: bool, imports: Sequence[str] | None) -> bool:
    """Whether re-running the baseline ``path`` runs Python code that is not shapetrace's or
    Keras's own: a factory, ``imports`` (its own or the command line's), or a model file
    loaded with ``unsafe_load``. A baseline that cannot be read counts as not: reading it
    again fails the same way, in this process."""
    from shapetrace.baselines.baseline import load_baseline
    from shapetrace.models.loading import parse_model_spec

    if imports:
        return True
    try:
        request = load_baseline(path).request
        spec = parse_model_spec(str(request.get("model")))
    except ShapetraceError:
        return False
    return bool(request.get("imports")) or spec.kind == "factory" or (unsafe_load and spec.kind == "file")


def check_all(
    paths: Sequence[Path],
    *,
    jobs: int = 1,
    update: bool = False,
    unsafe_load: bool = False,
    imports: Sequence[str] | None = None,
    on_start: Callable[[Path, bool], None] | None = None,
    trace_callbacks: dict[str, Any] | None = None,
    child_setup: Callable[[], None] | None = None,
) -> Generator[Outcome, None, None]:
    """Check each baseline; yield its outcome in the order given, as soon as it and those
    before it are known.

    Args:
        paths: baseline files.
        jobs: worker processes (1: one baseline at a time).
        update, unsafe_load, imports: as for :func:`shapetrace.baselines.check.check_baseline`.
        on_start: called as a baseline starts, with whether it runs in a child process.
        trace_callbacks: progress callbacks for a re-run in this process (``on_layer``…).
        child_setup: called first in each child process (the CLI's one-line warnings); a
            module-level function, since a spawned child receives it by name.

    An error of one baseline, expected or not, is its :class:`CheckError`; the others are
    still checked. Ctrl-C ends the children and propagates.
    """
    options = {"update": update, "unsafe_load": unsafe_load, "imports": list(imports or ())}
    if jobs <= 1:
        for path in paths:
            child = runs_user_code(path, unsafe_load=unsafe_load, imports=imports)
            if on_start is not None:
                on_start(path, child)
            if child:
                yield from _children([path], 1, options, setup=child_setup)
            else:
                yield _in_process(path, options, trace_callbacks or {})
        return
    yield from _children(list(paths), jobs, options, on_start, child_setup)


def _in_process(path: Path, options: dict[str, Any], callbacks: dict[str, Any]) -> Outcome:
    from shapetrace.baselines.check import check_baseline

    try:
        return check_baseline(path, **options, **callbacks)
    except Exception as error:  # (one baseline's error is its row, never the run's end)
        return _error_of(path, error)
    except SystemExit as error:
        return _error_of(path, error)


def _error_of(path: Path, error: BaseException) -> CheckError:
    """What a re-run's exception means, as a :class:`CheckError`."""
    from shapetrace.messages import one_line

    details = "".join(traceback.format_exception(error))
    if isinstance(error, ShapetraceError):
        return CheckError(path, str(error), error.exit_code, error.params, details)
    if isinstance(error, SystemExit):
        # The user's code stopping the process: exiting with its code would pass unchecked.
        return CheckError(
            path,
            f"{path}: your code exited (SystemExit({error.code!r})) while shapetrace was re-running it: "
            "the model could not be traced.",
            EXIT_USAGE,
            (),
            details,
        )
    try:
        text = one_line(error)
    except Exception:  # (an exception whose __str__ raises)
        text = "(its message cannot be shown)"
    return CheckError(
        path,
        f"{path}: internal error ({type(error).__name__}: {text}); rerun with "
        "`shapetrace check --debug` for the traceback and please report it.",
        EXIT_INTERNAL,
        (),
        details,
    )


@dataclass
class _Child:
    index: int
    path: Path
    process: Any  # multiprocessing.context.SpawnProcess
    results: Connection


def _children(
    paths: list[Path],
    jobs: int,
    options: dict[str, Any],
    on_start: Callable[[Path, bool], None] | None = None,
    setup: Callable[[], None] | None = None,
) -> Iterator[Outcome]:
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: fork would copy TensorFlow
    waiting = list(enumerate(paths))
    waiting.reverse()
    running: dict[int, _Child] = {}
    finished: dict[int, Outcome] = {}
    following = 0
    try:
        while following < len(paths):
            while waiting and len(running) < jobs:
                index, path = waiting.pop()
                reader, writer = context.Pipe(duplex=False)
                process = context.Process(
                    target=_child_main,
                    args=(writer, str(path), options, setup),
                    name=f"shapetrace check {path}",
                )
                if on_start is not None:
                    on_start(path, True)
                process.start()
                writer.close()  # the child holds the other copy: its end means EOF here
                running[index] = _Child(index, path, process, reader)
            while following in finished:
                yield finished.pop(following)
                following += 1
            if following >= len(paths):
                break
            ready = wait([child.results for child in running.values()])
            for child in list(running.values()):
                if child.results in ready:
                    finished[child.index] = _collect(child)
                    del running[child.index]
    finally:
        for child in running.values():  # Ctrl-C, or the caller stopped early
            child.process.terminate()
        for child in running.values():
            child.process.join(5)
            if child.process.is_alive():
                child.process.kill()
            child.results.close()


def _collect(child: _Child) -> Outcome:
    """The child's outcome, or why it has none."""
    try:
        outcome: Outcome = child.results.recv()
    except (EOFError, OSError):
        outcome = None  # type: ignore[assignment]
    except Exception as error:  # (a result that cannot be unpickled)
        outcome = _error_of(child.path, error)
    child.results.close()
    child.process.join()
    if outcome is not None:
        return outcome
    code = child.process.exitcode
    if code is not None and code < 0:
        try:
            how = f"was killed by signal {signal.Signals(-code).name}"
        except ValueError:
            how = f"was killed by signal {-code}"
    else:
        how = f"exited with code {code}"
        if code == 0:
            how += " (os._exit() or a native library ending the process?)"
    return CheckError(
        child.path,
        f"{child.path}: the re-run ended without a trace: the process re-running it {how}, so the "
        "shapes were not checked.",
        EXIT_FAILED,
    )


def _child_main(
    results: Connection, path: str, options: dict[str, Any], setup: Callable[[], None] | None
) -> None:
    """A child process: check one baseline and send the outcome back."""
    # Our stdout may carry the parent's JSON document: anything the model's code prints
    # goes to stderr instead, down to file descriptor 1 for native libraries.
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C: the parent reports it, once
    try:
        if setup is not None:
            setup()
    except Exception:  # plain Python warnings then
        pass
    results.send(_in_process(Path(path), options, {}))
    results.close()
