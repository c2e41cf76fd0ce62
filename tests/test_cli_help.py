"""--help reads like a well-kept CLI's (git, pip, ruff), at 80 and 120 columns, for every command."""

from __future__ import annotations

import re

import pytest

COMMANDS = [[], ["trace"], ["list"], ["snapshot"], ["check"], ["survey"], ["adapt"], ["train"]]


def _params(command):
    """The click parameters of ``shapetrace COMMAND`` (the group's own for ``[]``), --help included,
    as --help shows them."""
    import typer
    from typer import _click as click

    from shapetrace.cli.app import app

    group = typer.main.get_command(app)
    chosen = group.commands[command[0]] if command else group
    return chosen.get_params(click.Context(chosen, info_name=command[0] if command else "shapetrace"))


def _words(text):
    return text.replace("`", "").split()


def _rendered_words(out):
    """The words of a rich help screen, box drawing and table padding left out."""
    return re.sub(r"[│╭╮╰╯─]", " ", out).split()


@pytest.mark.parametrize("columns", [80, 120])
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "shapetrace")
def test_help_reads_like_a_cli(command, columns, cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", str(columns))
    code, out, err = cli(*command, "--help")
    assert code == 0 and "Usage" in out, err
    assert max(len(line) for line in out.splitlines()) <= columns
    # No type names for metavars, none on flags; no cut lines; arguments in capitals.
    for wrong in ("<bool>", "<list", "<str>", "<int", "<float>", "<path>", "…", "{", "[data_dir]"):
        assert wrong not in out, wrong
    usage = next(line for line in out.splitlines() if "Usage:" in line)
    assert not re.search(r"\b[a-z_]+\b(\.\.\.)?\]?$", usage.split("[OPTIONS]")[-1].strip() or "X"), usage
    # No word split: every word of every option's help, and every metavar, is shown whole.
    shown = set(_rendered_words(out))
    for param in _params(command):
        if getattr(param, "hidden", False):
            continue
        for word in _words(param.help or ""):
            assert word in shown, (
                f"{word!r} of {param.opts or param.name} is split or cut at {columns} columns"
            )
        if param.metavar:  # typer 0.26 writes an optional argument's as [DATA_DIR]
            assert param.metavar in shown or f"[{param.metavar}]" in shown, param.metavar


@pytest.mark.parametrize("command", COMMANDS[1:], ids=lambda c: c[0])
def test_flags_show_no_metavar_and_choices_are_in_the_help(command):
    for param in _params(command):
        if param.param_type_name != "option":
            continue
        if param.is_flag:
            assert param.metavar == "", param.opts
            continue
        assert param.metavar and param.metavar == param.metavar.strip(), param.opts
        assert not param.metavar.startswith("<"), (param.opts, param.metavar)
        # click's Choice (typer 0.26) or typer's own descriptor (0.29)
        choices = (
            getattr(getattr(param, "type", None), "choices", None)
            or getattr(getattr(param, "type_descriptor", None), "choices", None)
            or ()
        )
        for choice in choices:
            value = getattr(choice, "value", choice)
            assert str(value) in (param.help or ""), f"{param.opts}: help does not name {value!r}"


def test_no_arguments_prints_the_help_and_exits_0(cli):
    code, out, err = cli()
    assert code == 0 and "Usage" in out and "error" not in err


def test_a_missing_argument_is_one_line_naming_it(cli):
    code, _, err = cli("check")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "BASELINE" in err


@pytest.mark.parametrize(
    "typed, suggested",
    [("--bogus", None), ("--chanels", "--channels"), ("--colums", "--columns"), ("--width", None)],
)
def test_an_unknown_option_suggests_only_close_matches(typed, suggested, cli):
    code, _, err = cli("trace", "resnet50", typed, "x")
    assert code == 2 and "No such option" in err
    if suggested is None:
        assert "Possible options" not in err
    else:
        assert f"Possible options: {suggested})" in err
