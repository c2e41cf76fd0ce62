"""Shape baselines in a test suite: ``assert_shapes`` and its pytest plugin.

::

    from shapetrace.testing import assert_shapes

    def test_encoder_shapes():
        assert_shapes("models/encoder.py:build", "tests/shapes/encoder.json", channels=1)

When the shapes differ the test fails with the same table as ``shapetrace check``
and the new trace is written beside the baseline (``encoder.obtained.json``).
Regenerate with ``pytest --shapetrace-update`` or ``SHAPETRACE_UPDATE=1 pytest``;
a missing baseline is created only then, and never when ``CI`` is set.

The plugin registers through the ``pytest11`` entry point (installed with the
package); without the installed entry point, add ``pytest_plugins =
["shapetrace.testing"]`` to your top-level ``conftest.py``. Importing this module
does not import TensorFlow.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shapetrace.baselines.check import CheckResult
from shapetrace.errors import ShapesDiffer

if TYPE_CHECKING:
    import pytest

__all__ = ["assert_shapes", "ShapesDiffer", "UPDATE_ENV", "update_requested"]

UPDATE_ENV = "SHAPETRACE_UPDATE"
UPDATE_OPTION = "--shapetrace-update"

# Set by pytest_configure from --shapetrace-update: pytest owns the run, and
# assert_shapes is called from plain test functions that cannot reach its config.
_pytest_update = False


def update_requested() -> bool:
    """``--shapetrace-update`` was given, or ``SHAPETRACE_UPDATE`` is set to a true value."""
    value = os.environ.get(UPDATE_ENV, "").strip().lower()
    return _pytest_update or value in ("1", "true", "yes", "on")


def assert_shapes(
    model_or_name: Any,
    path: str | Path,
    *,
    update: bool | None = None,
    max_rows: int = 40,
    **trace_options: Any,
) -> CheckResult:
    """Trace a model and assert its shapes match the baseline ``path``.

    Args:
        model_or_name: an application name, a ``.keras``/``.h5`` file, a factory spec
            (``"pkg.module:function"``), a zero-argument callable returning a model
            (called with fresh layer naming), or a built ``keras.Model``.
        path: the baseline JSON, relative to the working directory.
        update: rewrite (or create) the baseline; default: :func:`update_requested`.
        max_rows: diff rows shown in the failure message.
        **trace_options: options of :func:`shapetrace.trace` (``channels=1``, ``size="64x64"``…).

    Returns:
        The :class:`~shapetrace.baselines.check.CheckResult` (``match``, ``updated`` or ``created``).

    Raises:
        ShapesDiffer: the shapes differ (an ``AssertionError`` with the rendered diff).
        UsageError: a missing baseline without update (or under ``CI``), an invalid
            baseline, or a model that cannot be built.
    """
    __tracebackhide__ = True  # pytest: show the failure, not this helper's frames
    from shapetrace.api import trace as run_trace
    from shapetrace.baselines.check import check_trace

    update = update_requested() if update is None else update
    trace = run_trace(model_or_name, **trace_options)
    command = _accept_command()
    result = check_trace(
        trace,
        path,
        update=update,
        accept_command=command,
        update_hint=f"{UPDATE_ENV}=1 (or pytest {UPDATE_OPTION})",
    )
    if result.failed:
        raise ShapesDiffer(_render(result, max_rows), result)
    return result


def _accept_command() -> str:
    current = os.environ.get("PYTEST_CURRENT_TEST", "")
    node = current.rsplit(" (", 1)[0] if current else ""
    target = f" {shlex.quote(node)}" if node else ""
    return f"{UPDATE_ENV}=1 python -m pytest{target}"


def _render(result: CheckResult, max_rows: int) -> str:
    from shapetrace.render.diff import check_report
    from shapetrace.render.text import render_text

    # render_text ends with a newline the message does not.
    return (
        "shapes differ from the baseline:\n"
        + render_text(check_report(result, max_rows=max_rows), width=240)[:-1]
    )


# --------------------------------------------------------------------------- pytest plugin


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("shapetrace")
    group.addoption(
        UPDATE_OPTION,
        action="store_true",
        default=False,
        help=f"assert_shapes: rewrite baselines that differ and create missing ones (same as {UPDATE_ENV}=1).",
    )


def pytest_configure(config: pytest.Config) -> None:
    global _pytest_update
    _pytest_update = bool(config.getoption(UPDATE_OPTION, default=False))


def pytest_unconfigure(config: pytest.Config) -> None:
    global _pytest_update
    _pytest_update = False
