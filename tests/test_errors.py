"""Errors: one hierarchy in ``errors.py``; the library names parameters, the CLI names flags.

The same mistakes are made twice, through ``shapetrace``'s Python API and through the CLI:
the library's message says ``channels=…``/`` `imports` `` and lists the parameters in
``error.params``; the CLI prints the flags (one line, exit 2), translated in one place
(``cli.core.PARAM_FLAGS``).
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import shapetrace
from shapetrace import errors
from shapetrace.cli.core import PARAM_FLAGS, flag_message
from shapetrace.errors import ShapetraceError, UsageError

PACKAGE = Path(shapetrace.__file__).resolve().parent

# Control flow that never reaches a user: private where it is raised (see errors.py).
PRIVATE_CONTROL_FLOW = {
    "shapetrace.tracing.engine._Stop",
    "shapetrace.tracing.recorder.RecordingStopped",
    "shapetrace.tracing.jax_trace.Abandon",
}

_FLAG = re.compile(r"(?<![\w-])--[a-z]")


def _library_call(case):
    """Call the library as ``case`` says and return the error it raises."""
    with pytest.raises(ShapetraceError) as info:
        case()
    return info.value


def _trace(*args, **kwargs):
    return lambda: shapetrace.trace(*args, **kwargs)


def _view(**kwargs):
    from shapetrace.tracing.selection import View

    return lambda: View.parse(**kwargs)


def _select(pattern):
    from shapetrace.explore.survey import select_applications

    return lambda: select_applications(pattern)


def _compare(channels, other):
    from shapetrace.explore.compare import validate_compare

    return lambda: validate_compare(channels, other)


def _train(**kwargs):
    from shapetrace.train.config import TrainConfig

    return lambda: TrainConfig(**kwargs).resolved()


# (library call, what the library says, the CLI arguments of the same mistake, what the CLI says)
CASES = [
    (
        _trace("resnet50", channels=0),
        "channels=0 is not a channel count",
        ["trace", "resnet50", "--channels", "0"],
        "--channels 0 is not a channel count: expected a whole number from 1 to 4096.",
    ),
    (
        _compare(1, 0),
        "other=0 is not a channel count",
        ["trace", "resnet50", "--channels", "1", "--compare", "0"],
        "--compare 0 is not a channel count",
    ),
    (
        _trace("resnet50", size="12x"),
        "Invalid size='12x'",
        ["trace", "resnet50", "--size", "12x"],
        "Invalid --size '12x': expected HxW",
    ),
    (
        _trace("resnet50", imports=["layers.py"]),
        "`imports` gives the code",
        ["trace", "resnet50", "--import", "layers.py"],
        "--import gives the code a saved model or a factory needs",
    ),
    (
        _trace("resnet50", factory_args={"width": 2}),
        "`factory_args` applies to a factory",
        ["trace", "resnet50", "--factory-arg", "width=2"],
        "--factory-arg applies to a factory (module:function)",
    ),
    (
        _trace("mobilenetv3small", size="16x16"),
        "use size=32x32 or larger",
        ["trace", "mobilenetv3small", "--size", "16x16"],
        "use --size 32x32 or larger",
    ),
    (
        _trace("resnet50", weights=""),
        "Invalid weights=''",
        ["trace", "resnet50", "--weights", ""],
        "Invalid --weights ''",
    ),
    (
        _trace("resnet50", inputs=["=3"]),
        "Invalid inputs='=3'",
        ["trace", "resnet50", "--input", "=3"],
        "Invalid --input '=3'",
    ),
    (
        _trace("models.py:build", factory_args=["width"]),
        "Invalid factory_args=['width']",
        ["trace", "models.py:build", "--factory-arg", "width"],
        "Invalid --factory-arg 'width': expected key=value",
    ),
    (
        _view(columns="layer,bogus"),
        "Unknown column 'bogus' in `columns`",
        ["trace", "resnet50", "--columns", "layer,bogus"],
        "Unknown column 'bogus' in --columns",
    ),
    (
        _view(layers="block("),
        "Invalid `layers` regular expression 'block('",
        ["trace", "resnet50", "--layers", "block("],
        "Invalid --layers regular expression 'block('",
    ),
    (
        _compare(3, 3),
        "other=3 equals the probe's channel count (3)",
        ["trace", "resnet50", "--compare", "3"],
        "--compare 3 equals the probe's channel count (3): expected a different number to compare "
        "with, e.g. --channels 3 --compare 1.",
    ),
    (
        _select(""),
        "Empty `models`",
        ["survey", "--models", ""],
        "Empty --models",
    ),
    (
        _train(epochs=0),
        "Invalid epochs=0",
        ["train", "--epochs", "0"],
        "Invalid --epochs 0: expected a whole number ≥ 1.",
    ),
]
IDS = [case[3][:40] for case in CASES]


def _names_its_parameters(error: ShapetraceError) -> None:
    message = str(error)
    assert error.params, message
    assert not _FLAG.search(message), message
    for name in error.params:
        assert f"{name}=" in message or f"`{name}`" in message or f"{name}[" in message, (name, message)


@pytest.mark.parametrize("call, library, argv, shown", CASES, ids=IDS)
def test_the_library_names_parameters(call, library, argv, shown):
    error = _library_call(call)
    assert library in str(error)
    _names_its_parameters(error)


@pytest.mark.parametrize("call, library, argv, shown", CASES, ids=IDS)
def test_the_cli_names_flags_in_one_line_exit_2(call, library, argv, shown, cli):
    code, out, err = cli(*argv)
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert shown in err, err
    assert out == ""


def test_params_become_flags_only_where_a_token_starts():
    error = UsageError(
        "size=64x64 (from 'a/size=3', \"size=4\", x_size=5) and `size`; channels=2 stays",
        param="size",
    )
    assert flag_message(error) == (
        "--size 64x64 (from 'a/size=3', \"size=4\", x_size=5) and --size; channels=2 stays"
    )
    assert flag_message(UsageError("use native=True")) == "use native=True"  # not declared: as it is
    forms = UsageError(
        "use native=True, inputs['image']=64x64x1 and imports=['../layers.py']",
        param=("native", "inputs", "imports"),
    )
    assert flag_message(forms) == "use --native, --input image=64x64x1 and --import '../layers.py'"
    assert flag_message(ValueError("plain")) == "plain"


def test_every_flag_in_the_table_is_a_cli_flag():
    from typer.main import get_command

    from shapetrace.cli.app import app

    group = get_command(app)
    flags = {
        opt
        for command in group.commands.values()
        for param in command.params
        for opt in getattr(param, "opts", ())
    }
    assert set(PARAM_FLAGS.values()) <= flags, set(PARAM_FLAGS.values()) - flags


def _modules():
    for info in pkgutil.walk_packages([str(PACKAGE)], "shapetrace."):
        if info.name != "shapetrace.__main__":
            yield info.name


def test_every_exception_class_is_defined_in_errors_py():
    strays = []
    for name in _modules():
        module = importlib.import_module(name)
        for value in vars(module).values():
            if not (isinstance(value, type) and issubclass(value, BaseException)):
                continue
            if not value.__module__.startswith("shapetrace"):
                continue
            qualified = f"{value.__module__}.{value.__qualname__}"
            if value.__module__ != "shapetrace.errors" and qualified not in PRIVATE_CONTROL_FLOW:
                strays.append(qualified)
    assert not strays, f"define these in shapetrace/errors.py: {sorted(set(strays))}"
    for name in errors.__all__:
        value = getattr(errors, name)
        if isinstance(value, type) and not issubclass(value, Warning):
            assert isinstance(value.exit_code, int), name


def test_old_import_names_still_work():
    from shapetrace.cli.core import EXIT_INTERNAL, EXIT_INTERRUPTED
    from shapetrace.testing import ShapesDiffer
    from shapetrace.train.channels import AdaptRefused
    from shapetrace.train.run import TrainingDiverged

    assert AdaptRefused is errors.AdaptRefused and TrainingDiverged is errors.TrainingDiverged
    assert ShapesDiffer is errors.ShapesDiffer and issubclass(ShapesDiffer, AssertionError)
    assert (EXIT_INTERNAL, EXIT_INTERRUPTED) == (errors.EXIT_INTERNAL, errors.EXIT_INTERRUPTED)


def _error_texts(tree: ast.AST):
    """The literal text of every ``…Error(…)``/``…Refused(…)`` etc. constructed in a module."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        if not name.endswith(("Error", "Refused", "Diverged", "Broken", "Failed")):
            continue
        parts = [
            n.value
            for arg in node.args
            for n in ast.walk(arg)
            if isinstance(n, ast.Constant) and isinstance(n.value, str)
        ]
        yield node.lineno, "".join(parts)


def test_every_declared_parameter_has_its_flag_in_the_table():
    """``param="…"`` written in the library names a key of PARAM_FLAGS (the one mapping)."""
    declared = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                for keyword in node.keywords:
                    if keyword.arg == "param":
                        for n in ast.walk(keyword.value):
                            if isinstance(n, ast.Constant) and isinstance(n.value, str):
                                declared[n.value] = f"{path.relative_to(PACKAGE)}:{node.lineno}"
    assert len(declared) > 20
    assert not {name: where for name, where in declared.items() if name not in PARAM_FLAGS}


def test_library_messages_speak_parameters_not_flags():
    """Only the CLI speaks flags; a command quoted in backticks (`shapetrace trace --format json`) may."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "cli" in path.relative_to(PACKAGE).parts:
            continue
        for line, text in _error_texts(ast.parse(path.read_text(encoding="utf-8"))):
            if _FLAG.search(re.sub(r"`[^`]*`", "", text)):
                found.append(f"{path.relative_to(PACKAGE)}:{line}: {text[:80]}")
    assert not found, "\n".join(found)
