"""What every command shares: the Typer app, consoles, shared options, error mapping."""

from __future__ import annotations

import os
import re
import sys
import traceback
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console, RenderableType
from typer.core import TyperGroup

from shapetrace.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USAGE, ShapetraceError
from shapetrace.messages import clip_message, one_line

if TYPE_CHECKING:
    from shapetrace.cli.status import WorkStatus
    from shapetrace.options import Layout

__all__ = [
    "app",
    "DebugOption",
    "WideOption",
    "reporting",
    "emit",
    "output_layout",
    "work_status",
    "stderr_console",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "PARAM_FLAGS",
    "flag_message",
    "fail",
    "print_error",
    "clip_message",
    "escape_message",
]

# The library's parameters as this CLI's flags: the one place the two vocabularies meet.
# Library messages name parameters (and list them in ``error.params``); the CLI shows flags.
PARAM_FLAGS: dict[str, str] = {
    # trace, snapshot, check, survey, adapt
    "channels": "--channels",
    "size": "--size",
    "batch": "--batch",
    "native": "--native",
    "top": "--top",
    "weights": "--weights",
    "pooling": "--pooling",
    "engine": "--engine",
    "inputs": "--input",
    "factory_args": "--factory-arg",
    "imports": "--import",
    "unsafe_load": "--unsafe-load",
    "other": "--compare",  # compare(model, channels=, other=)
    "columns": "--columns",
    "depth": "--depth",
    "layers": "--layers",
    "plot": "--plot",
    "svg": "--svg",
    "html": "--html",
    "models": "--models",
    "method": "--method",
    "update": "--update",
    "jobs": "--jobs",
    "shard": "--shard",
    # train
    "adapt": "--adapt",
    "output": "--output",
    "overwrite": "--overwrite",
    "epochs": "--epochs",
    "fine_tune_epochs": "--fine-tune-epochs",
    "batch_size": "--batch-size",
    "seed": "--seed",
    "limit": "--limit",
    "val_split": "--val-split",
    "lr": "--lr",
    "fine_tune_lr": "--fine-tune-lr",
    "distribute": "--distribute",
}

# A parameter is rewritten only where it starts a token (not inside a path, a name or a quote).
_TOKEN_START = r"(?<![\w.\-/\\'\"\[=])"

# Words that `shapetrace WORD` treats as options of the group itself, not a model name.
_GROUP_FLAGS = {"--help", "-h", "--version", "--install-completion", "--show-completion"}


class DefaultToTrace(TyperGroup):
    """``shapetrace MODEL …`` means ``shapetrace trace MODEL …``; subcommands stay as they are."""

    default_command = "trace"

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in _GROUP_FLAGS:
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)

    def shell_complete(self, ctx: Any, incomplete: str) -> list[Any]:
        """Complete subcommands and, since a bare word is a model, application names too."""
        # typer's vendored click (typer >= 0.26; see the note in cli/app.py)
        from typer._click.shell_completion import CompletionItem

        from shapetrace.applications import APPLICATIONS, normalize_name

        results = super().shell_complete(ctx, incomplete)
        if not incomplete.startswith("-"):
            key = normalize_name(incomplete)
            results.extend(CompletionItem(k) for k in APPLICATIONS if k.startswith(key))
        return results


app = typer.Typer(
    cls=DefaultToTrace,
    name="shapetrace",
    help=(
        "Show what really happens to a tensor's shape inside a Keras model.\n\n"
        "Run `shapetrace MODEL --channels N` (same as `shapetrace trace MODEL …`) to feed a "
        "real probe through any keras.applications model and see every layer's actual shapes."
    ),
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
)

DebugOption = Annotated[bool, typer.Option("--debug", help="Show the full Python traceback on errors.")]

WideOption = Annotated[
    bool,
    typer.Option(
        "--wide",
        help="On a terminal too, print every column at the width the table needs "
        "(as piped output does) instead of fitting the window.",
    ),
]

stderr_console = Console(stderr=True, highlight=False, soft_wrap=True)


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def stdout_console() -> Console:
    """Colour on a terminal; plain text (no control codes) when piped or with NO_COLOR."""
    tty = stdout_is_terminal()
    plain = not tty or "NO_COLOR" in os.environ
    return Console(
        color_system=None if plain else "auto",
        no_color=plain,
        highlight=False,
        force_terminal=True if tty else False,
        emoji=False,
    )


def output_layout(wide: bool = False) -> Layout:
    """How wide the tables may be: a terminal's width, or unbounded when piped or ``--wide``."""
    from shapetrace.options import Layout

    if wide or not stdout_is_terminal():
        return Layout()
    return Layout(width=stdout_console().size.width)


def emit(
    renderable: RenderableType, *, measure: RenderableType | None = None, layout: Layout | None = None
) -> None:
    """Print a report to stdout.

    Piped: plain text as wide as ``measure`` (the table) needs, never cut. On a terminal: at
    the window's width (renderers fitted the tables to ``layout``), or with ``--wide``
    (an unbounded ``layout``) as wide as the table needs, like piped output.
    """
    from shapetrace.render.text import needed_width, render_text

    if not stdout_is_terminal():
        sys.stdout.write(render_text(renderable, measure=measure))
        return
    layout = output_layout() if layout is None else layout
    console = stdout_console()
    if layout.width is not None:
        console.width = layout.width
    elif measure is not None:
        console.width = max(needed_width(console, measure), console.size.width)
    console.print(renderable)


@contextmanager
def work_status(prefix: str = "") -> Iterator[WorkStatus]:
    """A transient status line on stderr while a command works (only when stderr is a terminal)."""
    from shapetrace.cli.status import WorkStatus

    with WorkStatus(stderr_console, prefix=prefix) as status:
        yield status


def install_warning_format() -> None:
    """Python warnings (Keras emits a few) as one ``warning:`` line each, no source lines."""

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: Any = None,
        line: str | None = None,
    ) -> None:
        stderr_console.print(f"[yellow]warning:[/] {_escape(str(message).splitlines()[0])}")

    warnings.showwarning = show


@contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Keep Keras's own prints (download progress) out of stdout, which may carry JSON."""
    with redirect_stdout(sys.stderr):
        yield


def print_error(message: str) -> None:
    """One ``error:`` line on stderr (``message`` is rich markup: escape what the user gave)."""
    stderr_console.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)


def fail(message: str, code: int) -> NoReturn:
    """Print ``message`` as one ``error:`` line and exit with ``code`` (raises ``typer.Exit``)."""
    print_error(message)
    raise typer.Exit(code)


def flag_message(error: BaseException) -> str:
    """``error``'s message with the parameters it names (``error.params``) spoken as flags.

    ``name=True`` → ``--flag``; ``name=VALUE`` → ``--flag VALUE``; ``name['key']=VALUE`` →
    ``--flag key=VALUE``; ``name=[ITEM]`` → ``--flag ITEM``; `` `name` `` → ``--flag``. Only
    the declared parameters, and only where one starts a token: a path or a shape that
    happens to contain ``size=`` is left alone.
    """
    text = str(error)
    for name in getattr(error, "params", ()):
        text = _as_flag(text, name, PARAM_FLAGS.get(name, "--" + name.replace("_", "-")))
    return text


def _as_flag(text: str, name: str, flag: str) -> str:
    key = _TOKEN_START + re.escape(name)
    text = text.replace(f"`{name}`", flag)
    # Replacement strings would read backslashes in the flag as escapes: functions do not.
    text = re.sub(key + r"=True\b", lambda _m: flag, text)
    text = re.sub(key + r"\[(['\"])([^'\"\]]*)\1\]=", lambda m: f"{flag} {m.group(2)}=", text)
    text = re.sub(key + r"=\[([^\[\],]*)\]", lambda m: f"{flag} {m.group(1)}", text)
    return re.sub(key + r"=(?=\S)", lambda _m: flag + " ", text)


@contextmanager
def reporting(debug: bool) -> Iterator[None]:
    """Map library exceptions to one line on stderr and an exit code (tracebacks only with --debug)."""
    try:
        yield
    except typer.Exit:
        raise
    except ShapetraceError as error:
        if debug:
            traceback.print_exc()
        fail(_escape(flag_message(error)), error.exit_code)
    except KeyboardInterrupt:
        fail("interrupted.", EXIT_INTERRUPTED)
    except SystemExit as error:
        # shapetrace itself never calls sys.exit here: this is the user's code (a custom
        # layer's call(), a factory's helper) stopping the process. Exiting with its code
        # would let `check` pass (exit 0) without checking.
        if debug:
            traceback.print_exc()
        fail(
            escape_message(
                f"your code exited (SystemExit({error.code!r})) while shapetrace was running it: "
                "the model could not be traced."
            ),
            EXIT_USAGE,
        )
    except Exception as error:  # a bug: still one line, with the way to see more
        if debug:
            traceback.print_exc()
            fail(f"internal error: {type(error).__name__}", EXIT_INTERNAL)
        fail(
            _escape(
                f"internal error ({type(error).__name__}: {one_line(error)}); rerun with --debug "
                "for the traceback and please report it."
            ),
            EXIT_INTERNAL,
        )


def escape_message(text: str) -> str:
    """User-facing text for a rich line: clipped (see :func:`clip_message`), markup escaped."""
    from rich.markup import escape

    return escape(clip_message(text))


_escape = escape_message
