"""The one small exception hierarchy.

Every error a user can cause derives from :class:`ShapetraceError` and carries the
process exit code the CLI maps it to. Messages are one line: what was expected,
what was received, what to do next.
"""

from __future__ import annotations

__all__ = [
    "ShapetraceError",
    "UsageError",
    "ModelNotFoundError",
    "WeightsError",
    "CheckFailed",
    "ProbeBroken",
]

EXIT_OK = 0
EXIT_FAILED = 1  # a failed check or a broken probe
EXIT_USAGE = 2  # bad usage or bad input


class ShapetraceError(Exception):
    """Base class: a problem explained to the user in one line."""

    exit_code: int = EXIT_USAGE


class UsageError(ShapetraceError):
    """Bad options or bad input (exit 2)."""


class ModelNotFoundError(UsageError):
    """A model name that matches no application; carries the closest matches."""

    def __init__(self, message: str, suggestions: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.suggestions = suggestions


class WeightsError(UsageError):
    """Weights that cannot be downloaded, found or matched to the model."""


class CheckFailed(ShapetraceError):
    """A comparison that found a difference (exit 1)."""

    exit_code = EXIT_FAILED


class ProbeBroken(ShapetraceError):
    """The probe tensor could not pass the model (exit 1)."""

    exit_code = EXIT_FAILED
