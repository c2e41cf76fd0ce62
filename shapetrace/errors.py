"""The one small exception hierarchy, and the process exit codes.

Every error a user can cause derives from :class:`ShapetraceError` and carries the
process exit code the CLI maps it to. Messages are one line: what was expected,
what was received, what to do next.

Library messages speak Python: they name the parameter (``channels=0 is not a channel
count``, ``use native=True``, ``in `columns```) and list the parameters they name in
``params``. The CLI translates exactly those into its flags (``--channels 0``,
``--native``), in one place: :func:`shapetrace.cli.core.flag_message`.

:class:`ShapesDiffer` is an ``AssertionError`` (pytest reports it as a failed assertion),
not a ``ShapetraceError``; :class:`UnsafeLoadWarning` is a warning category. Three exceptions stay private where they are raised, because they
are control flow that never reaches a user: ``shapetrace.tracing.engine._Stop`` (ends the walk at
the first break), ``shapetrace.tracing.recorder.RecordingStopped`` (unwinds a recording) and
``shapetrace.tracing.jax_trace.Abandon`` (the abstract JAX walk hands over to the real one).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "EXIT_OK",
    "EXIT_FAILED",
    "EXIT_USAGE",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_TERMINATED",
    "ShapetraceError",
    "UsageError",
    "ModelNotFoundError",
    "WeightsError",
    "VerificationFailed",
    "ProbeBroken",
    "AdaptRefused",
    "TrainingDiverged",
    "OutputFailed",
    "Terminated",
    "ShapesDiffer",
    "UnsafeLoadWarning",
    "OutsideProjectWarning",
]

EXIT_OK = 0
EXIT_FAILED = 1  # a failed check, a broken probe, a diverged training run
EXIT_USAGE = 2  # bad usage or bad input
EXIT_INTERNAL = 3  # a bug in shapetrace (or an unexpected Keras failure), not the user's fault
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT
EXIT_TERMINATED = 143  # SIGTERM, as a shell reports it


class ShapetraceError(Exception):
    """Base class: a problem explained to the user in one line.

    Args:
        message: the line.
        param: the parameter(s) the message names as ``name=value``, ``name=True`` or
            `` `name` `` (the CLI shows them as its flags).
    """

    exit_code: int = EXIT_USAGE

    def __init__(self, message: str, *, param: str | tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.params: tuple[str, ...] = (param,) if isinstance(param, str) else tuple(param)


class UsageError(ShapetraceError):
    """Bad options or bad input (exit 2)."""


class ModelNotFoundError(UsageError):
    """A model name that matches no application; carries the closest matches."""

    def __init__(self, message: str, suggestions: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.suggestions = suggestions


class WeightsError(UsageError):
    """Weights that cannot be downloaded, found or matched to the model."""


class AdaptRefused(UsageError):
    """``adapt="broadcast"`` on a model the gray probe breaks; carries the trace with the break."""

    def __init__(self, message: str, trace: Any, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.trace = trace


class VerificationFailed(ShapetraceError):
    """A result shapetrace verifies before it writes did not hold, e.g. an adapted model that
    computes differently from the original (exit 1). Not regression checking: that is
    :class:`shapetrace.baselines.check.CheckResult`."""

    exit_code = EXIT_FAILED


class ProbeBroken(ShapetraceError):
    """The probe tensor could not pass the model (exit 1)."""

    exit_code = EXIT_FAILED


class TrainingDiverged(ShapetraceError):
    """The loss became NaN/inf; the last good checkpoint is kept (exit 1)."""

    exit_code = EXIT_FAILED


class OutputFailed(ShapetraceError):
    """The report could not be written to stdout: closed, full, a broken pipe (exit 1)."""

    exit_code = EXIT_FAILED


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C raises ``KeyboardInterrupt`` so the same cleanup runs
    (:mod:`shapetrace.interrupts`)."""

    exit_code = EXIT_TERMINATED


class UnsafeLoadWarning(UserWarning):
    """A model file was loaded with ``unsafe_load``: the code it carries ran (a warning, not an error)."""


class OutsideProjectWarning(UserWarning):
    """``snapshot`` wrote a baseline that ``check`` will refuse: it names code outside its project."""


class ShapesDiffer(AssertionError):
    """``assert_shapes``: the shapes differ from the baseline; ``result`` holds the structured diff
    (a :class:`shapetrace.baselines.check.CheckResult`; typed loosely so that this module, the
    bottom of the house, imports nothing from shapetrace).

    An ``AssertionError`` so that pytest reports a failed assertion, not an error.
    """

    exit_code = EXIT_FAILED

    def __init__(self, message: str, result: Any) -> None:
        super().__init__(message)
        self.result = result
