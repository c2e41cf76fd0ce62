"""Entry point: assemble the commands and turn click's usage errors into one line."""

from __future__ import annotations

import sys

import typer
from typer import _click as click  # typer ships its own click; use the same classes it raises

from shapetrace.cli import core
from shapetrace.cli import trace_cmd  # noqa: F401  (registers trace, list)

# Further command modules register themselves on import:
# (one line each; keep this block in alphabetical order)
from shapetrace.cli import adapt_cmd  # noqa: F401,E402  (registers adapt)
from shapetrace.cli import check_cmd  # noqa: F401,E402  (registers snapshot, check)
from shapetrace.cli import survey_cmd  # noqa: F401,E402  (registers survey)
from shapetrace.cli import train_cmd  # noqa: F401,E402  (registers train)

app = core.app


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
        core.stderr_console.print(f"[bold red]error:[/] {core._escape(error.format_message())}{hint}")
        sys.exit(2)
    except typer.Abort:
        core.stderr_console.print("[bold red]error:[/] interrupted.")
        sys.exit(core.EXIT_INTERRUPTED)
    except typer.Exit as exit_:
        sys.exit(exit_.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
