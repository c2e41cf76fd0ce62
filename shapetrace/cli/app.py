"""Entry point: assemble the commands and turn click's usage errors into one line."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from typer import _click as click  # typer ships its own click; use the same classes it raises

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

    from shapetrace import __version__
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


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; click usage errors become one line and exit code 2."""
    core.install_warning_format()
    try:
        # Without standalone mode click returns the exit code instead of exiting.
        code = app(args=argv, prog_name="shapetrace", standalone_mode=False)
    except click.exceptions.UsageError as error:
        hint = ""
        if error.ctx is not None:
            hint = f" (see `{error.ctx.command_path} --help`)"
        core.stderr_console.print(f"[bold red]error:[/] {core.escape_message(error.format_message())}{hint}")
        sys.exit(2)
    except typer.Abort:
        core.stderr_console.print("[bold red]error:[/] interrupted.")
        sys.exit(core.EXIT_INTERRUPTED)
    except typer.Exit as exit_:
        sys.exit(exit_.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
