"""Entry point: assemble the commands and turn click's usage errors into one line."""

from __future__ import annotations

import difflib
import logging
import os
import sys
from collections.abc import Iterable
from typing import Annotated

import typer

# typer >= 0.26 vendors click as typer._click and raises its classes; it has no click dependency,
# so `import click` would find another copy (or none) whose UsageError typer never raises. The
# module is private, so pyproject pins the floor to 0.26, the first release that ships it, and
# tests/test_cli.py checks the names used here exist (run it against typer==0.26.0 for the floor).
from typer import _click as click

# Further command modules register themselves on import:
# (one line each; keep this block in alphabetical order)
from shapetrace.cli import (
    adapt_cmd,  # noqa: F401  (registers adapt)
    check_cmd,  # noqa: F401  (registers snapshot, check)
    core,
    survey_cmd,  # noqa: F401  (registers survey)
    trace_cmd,  # noqa: F401  (registers trace, list)
    train_cmd,  # noqa: F401  (registers train)
)
from shapetrace.errors import EXIT_INTERRUPTED, EXIT_USAGE

app = core.app


def version_text() -> str:
    """``shapetrace 0.1.0 · keras 3.15.1 · tensorflow 2.21.0 (backend tensorflow)``, from the
    installed packages' metadata: printing it never imports TensorFlow."""
    from importlib import metadata

    def installed(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    from shapetrace._version import __version__
    from shapetrace.backends import BACKEND_PACKAGES, configured_backend

    backend = configured_backend()  # what Keras will load, read without importing it
    # Another backend's own version beside its name: ``(backend jax 0.10.2)``.
    package = BACKEND_PACKAGES.get(backend)
    backend_text = f"{backend} {installed(package)}" if package and backend != "tensorflow" else backend
    return (
        f"shapetrace {__version__} · keras {installed('keras')} · tensorflow {installed('tensorflow')} "
        f"(backend {backend_text}) · python {'.'.join(map(str, sys.version_info[:3]))}"
    )


def _print_version(value: bool) -> None:
    if value:
        typer.echo(version_text())
        raise typer.Exit(0)


@app.callback()
def _group_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the versions of shapetrace, Keras and TensorFlow, and exit.",
            is_eager=True,
            callback=_print_version,
        ),
    ] = False,
) -> None:
    pass


def quiet_tensorflow_logs() -> None:
    """TensorFlow's logs off the CLI's stderr, where they would interleave with the table.

    Process-wide settings, so only the CLI's entry point makes them (a library import never
    does): C++ logs below FATAL are dropped unless the user set ``TF_CPP_MIN_LOG_LEVEL``, and
    Python's ``tensorflow`` logger (per-layer eager calls make tf.function warn about retracing)
    shows errors only. Neither imports TensorFlow.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def close_options(typed: str, options: Iterable[str]) -> list[str]:
    """The options ``typed`` may be a typo of, compared without their dashes.

    click compares with the dashes, which share so much that ``--bogus`` "resembles"
    ``--columns``; a suggestion that is not a likely typo only misleads.
    """
    bare = {option.lstrip("-"): option for option in options}
    return [bare[m] for m in difflib.get_close_matches(typed.lstrip("-"), list(bare), n=3, cutoff=0.75)]


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; click usage errors become one line and exit code 2.

    Around the whole run: stdout carries only the report (:mod:`shapetrace.cli.document`), and
    Ctrl-C and SIGTERM are recorded and end the run even where a library swallowed them
    (:mod:`shapetrace.interrupts`): 130 for Ctrl-C, 143 for SIGTERM, temporaries removed.
    """
    from shapetrace.cli.document import private_document
    from shapetrace.interrupts import handling_signals, interrupted_code

    quiet_tensorflow_logs()
    core.install_warning_format()
    # Called without arguments, main is the console script and owns the process (see document).
    with handling_signals(), private_document(for_good=argv is None):
        code = _run(argv)
        signalled = interrupted_code()
        if signalled is not None and code != signalled:
            # Ctrl-C landed where a library swallowed it (a garbage-collector callback): the
            # work went on, but the user asked to stop, and the writer refused to commit.
            core.print_error("interrupted." if signalled == EXIT_INTERRUPTED else "terminated.")
            code = signalled
        elif code == 0:
            code = _flush_report()
    sys.exit(code)


def _flush_report() -> int:
    from shapetrace.errors import OutputFailed

    try:
        sys.stdout.flush()
    except OutputFailed as error:
        core.print_error(core.escape_message(str(error)))
        return error.exit_code
    return 0


def _run(argv: list[str] | None) -> int:
    from shapetrace.errors import ShapetraceError
    from shapetrace.interrupts import interrupted_code

    try:
        # Without standalone mode click returns the exit code instead of exiting.
        code = app(args=argv, prog_name="shapetrace", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as error:
        # `shapetrace` alone: the help (rich already printed it; plain click returns it) and 0
        if error.format_message().strip():
            typer.echo(error.format_message())
        sys.exit(0)
    except click.exceptions.UsageError as error:
        if isinstance(error, click.exceptions.NoSuchOption):
            error.possibilities = close_options(error.option_name, error.possibilities or ())
        hint = ""
        if error.ctx is not None:
            hint = f" (see `{error.ctx.command_path} --help`)"
        core.print_error(f"{core.escape_message(error.format_message())}{hint}")
        return EXIT_USAGE
    except (typer.Abort, KeyboardInterrupt):
        signalled = interrupted_code() or EXIT_INTERRUPTED
        core.print_error("interrupted." if signalled == EXIT_INTERRUPTED else "terminated.")
        return signalled
    except typer.Exit as exit_:
        return exit_.exit_code
    except ShapetraceError as error:  # outside a command's own reporting: stdout failed (list, --help)
        core.print_error(core.escape_message(core.flag_message(error)))
        return error.exit_code
    return code if isinstance(code, int) else 0
