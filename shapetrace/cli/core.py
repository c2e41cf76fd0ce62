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
from typer.core import TyperCommand, TyperGroup

from shapetrace.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USAGE, ShapetraceError
from shapetrace.messages import clip_message, one_line
from shapetrace.render.text import VisibleConsole

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


# What goes after each option in --help and usage, named as git, pip and ruff name it: a flag
# shows nothing, a value shows what to type. An option missing here gets one from its type (see
# `_metavar_for`); one declared with ``metavar=`` keeps its own. Choices are named (ENGINE), not
# listed: the help text lists them, and a long list would be folded mid-word at 80 columns.
METAVARS: dict[str, str] = {
    "--adapt": "MODE",
    "--batch": "N",
    "--batch-size": "N",
    "--channels": "N",
    "--columns": "COLUMNS",
    "--compare": "N",
    "--depth": "N",
    "--distribute": "STRATEGY",
    "--engine": "ENGINE",
    "--epochs": "N",
    "--factory-arg": "KEY=VALUE",
    "--fine-tune-epochs": "N",
    "--fine-tune-lr": "RATE",
    "--format": "FORMAT",
    "--html": "FILE",
    "--import": "FILE|MODULE",
    "--input": "[NAME=]SHAPE",
    "--jobs": "N|auto",
    "--layers": "REGEX",
    "--limit": "N",
    "--lr": "RATE",
    "--max-rows": "N",
    "--method": "METHOD",
    "--model": "NAME",
    "--models": "REGEX",
    "--output": "FILE",
    "--plot": "FILE",
    "--pooling": "POOLING",
    "--seed": "N",
    "--shard": "K/N",
    "--size": "HxW",
    "--svg": "FILE",
    "--val-split": "FRACTION",
    "--weights": "WEIGHTS",
    # arguments, by name
    "baselines": "BASELINE",
}
# Where one command's option takes another kind of value than the table says.
COMMAND_METAVARS: dict[tuple[str, str], str] = {
    ("train", "--output"): "DIR",
    # survey takes a grid: every combination of the channel counts and sizes listed
    ("survey", "--channels"): "N[,N...]",
    ("survey", "--size"): "HxW[,HxW...]",
}


def _metavar_for(command: str, param: Any) -> str:
    """The metavar for ``param`` of ``command``: the tables above, else one from its type."""
    long = next((o for o in param.opts if o.startswith("--")), "")
    if (command, long) in COMMAND_METAVARS:
        return COMMAND_METAVARS[command, long]
    if long in METAVARS:
        return METAVARS[long]
    if param.param_type_name == "argument":
        return METAVARS.get(str(param.name), str(param.name).upper())
    # typer >= 0.29 knows the annotation; 0.26 only click's type name ("integer", "path", …)
    descriptor = getattr(param, "type_descriptor", None)
    annotation = getattr(descriptor, "annotation", None)
    type_name = getattr(getattr(param, "type", None), "name", "")
    if annotation is int or type_name.startswith("integer"):
        return "N"
    if getattr(descriptor, "is_path", False) or type_name == "path":
        return "FILE"
    return long.lstrip("-").replace("-", "_").upper() or str(param.name).upper()


class ConventionalHelp:
    """Help and usage in the conventions of git, pip and ruff, for every command and the group.

    Flags show no metavar (typer 0.29 would print ``<bool>``), values show what to type
    (``N``, ``HxW``, ``[NAME=]SHAPE``; never ``<list[str]>``), and the usage line names
    arguments in capitals (``MODEL``, ``[DATA_DIR]``, ``BASELINE...``), not ``{model}``.
    """

    options_metavar: str | None
    name: str | None

    def get_params(self, ctx: Any) -> list[Any]:
        params: list[Any] = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            _set_metavar(str(self.name or ""), param)
        return params


def _set_metavar(command: str, param: Any) -> None:
    if getattr(param, "_shapetrace_metavar", False):
        return
    if param.param_type_name == "option" and (param.is_flag or param.count):
        param.metavar = ""
    elif param.metavar is None:
        param.metavar = _metavar_for(command, param)
    if param.param_type_name == "argument":
        usage = f"{param.metavar}..." if param.nargs != 1 else str(param.metavar)
        usage = usage if param.required else f"[{usage}]"
        # typer 0.29 writes `{model}` in the usage line, and `<str>` beside the name in --help
        param.get_usage_pieces = lambda ctx: [usage]
        if hasattr(param, "display_type_rich"):
            param.display_type_rich = lambda ctx: None
    param._shapetrace_metavar = True


class ShapetraceCommand(ConventionalHelp, TyperCommand):
    """Every ``shapetrace`` subcommand (see :class:`ConventionalHelp`)."""


class ShapetraceTyper(typer.Typer):
    """A Typer app whose commands are :class:`ShapetraceCommand` unless they ask otherwise."""

    def command(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("cls", ShapetraceCommand)
        return super().command(*args, **kwargs)


class DefaultToTrace(ConventionalHelp, TyperGroup):
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

        from shapetrace.models.catalog import APPLICATIONS, normalize_name

        results = super().shell_complete(ctx, incomplete)
        if not incomplete.startswith("-"):
            key = normalize_name(incomplete)
            results.extend(CompletionItem(k) for k in APPLICATIONS if k.startswith(key))
        return results


app = ShapetraceTyper(
    cls=DefaultToTrace,
    name="shapetrace",
    help=(
        "Show what really happens to a tensor's shape inside a Keras model.\n\n"
        "Run `shapetrace MODEL --channels N` (short for `shapetrace trace MODEL --channels N`) to feed a "
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

# Visible: names in error lines and warnings show their control characters escaped. No markup
# unless a call asks (markup=True, with the user's text escaped): a baseline path or a layer
# name holding "[/bold]" is text, never a tag (a stray closing tag would raise MarkupError).
stderr_console = VisibleConsole(stderr=True, highlight=False, soft_wrap=True, markup=False)


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def stdout_console() -> Console:
    """Colour on a terminal; plain text (no control codes) when piped or with NO_COLOR."""
    tty = stdout_is_terminal()
    plain = not tty or "NO_COLOR" in os.environ
    return VisibleConsole(
        # On a terminal, the report's stream itself, not sys.stdout: a live progress bar
        # refreshes from a thread, and sys.stdout sends other threads' writes to stderr
        # (cli/document.py). Piped, there is no live display and sys.stdout reports failures.
        file=getattr(sys.stdout, "document", None) if tty else None,
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
        lines = str(message).splitlines() or [""]
        stderr_console.print(f"[yellow]warning:[/] {_escape(lines[0])}", markup=True)

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
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (shapetrace.interrupts.Terminated)
        from shapetrace.interrupts import interrupted_code

        code = interrupted_code() or EXIT_INTERRUPTED
        fail("interrupted." if code == EXIT_INTERRUPTED else "terminated.", code)
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
    except OSError as error:
        # The file system refused something the user named (a name past its limit, a folder
        # that vanished, the working directory deleted under us): input, not a bug.
        if debug:
            traceback.print_exc()
        fail(_escape(os_error_message(error)), EXIT_USAGE)
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


def os_error_message(error: OSError) -> str:
    """An ``OSError`` as one line naming the path it is about."""
    reason = error.strerror or one_line(error)
    if error.filename is not None:
        return f"Cannot use {str(error.filename)!r}: {reason}."
    try:
        os.getcwd()
    except OSError:
        return f"The working directory no longer exists ({reason}): cd to a folder that does."
    return f"{reason}."


def escape_message(text: str) -> str:
    """User-facing text for a rich line: clipped (see :func:`clip_message`), markup escaped."""
    from rich.markup import escape

    return escape(clip_message(text))


_escape = escape_message
