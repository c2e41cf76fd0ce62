"""Shared fixtures and helpers: golden files, the one CLI runner (in-process and in a fresh process),
plain and terminal rendering, one-line refusals, traces several test modules read.

One flag regenerates every golden file and every shape baseline: ``python -m pytest --shapetrace-update``
(or ``SHAPETRACE_UPDATE=1``), the option of shapetrace's own pytest plugin (``shapetrace.testing``).
Without it a missing or different golden file is a failure, never a silent write.

Slow tests (``-m slow``; CI runs them right after the default run) and the default test that
covers the same behaviour, module by module:

- test_engines_agree: 37 of the 40 applications; the default run keeps EfficientNetB0 (passes,
  engines compared), ResNet50 (breaks at its stem) and MobileNetV3Small (rescales inside).
- test_survey: the survey of all 40; the default run surveys a five-model subset, same code.
- test_train_resume, test_train_multiworker: every test is a training run (resume, NaN, mirrored,
  kill, Ctrl-C, workers); the default run keeps one real run (test_train_cli) and the refusals.
- test_story: boundary verdicts at 3 and 4 channels repeat the outcomes of 1 and 2.
- test_adapt: adapting whole applications; the default run adapts small models by every method
  and refusal.
- test_backends: traces on JAX/PyTorch in fresh processes (user models, applications, snapshot
  on one backend checked on another, survey); the default run keeps the backend selection,
  its reading without importing Keras, and train's refusal of another backend.
- test_cli_check: examples/ci's own test run by pytest in a fresh process; the default run
  checks the same committed baseline through `shapetrace check`.
- test_check_jobs: `check --jobs 2` printing in order and `--update` with workers; the default
  run compares `--jobs 2` and both `--shard`s with the serial run.
- test_baseline: `pytest --shapetrace-update` in a fresh pytest process (the plugin's option
  as registered by the entry point), and `assert_shapes` under `pytest -n 2` (pytest-xdist);
  the default run updates baselines through `assert_shapes` and `SHAPETRACE_UPDATE` in-process.
- test_browser, test_example_notebook: a real Chromium, a real kernel; the default run checks the
  same HTML (test_notebook).
- test_terminal_cli: pseudo-terminal runs at every width; the default run keeps 80 columns.
- test_train_hostile: training runs that are killed or run out of disk; the default run keeps the
  hostile-data refusals.
- test_user_models: most user models; the default run keeps subclassed, custom layers, several
  inputs.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from shapetrace.testing import UPDATE_OPTION, update_requested

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

GOLDEN_DIR = Path(__file__).parent / "golden"


# --------------------------------------------------------------------------- golden files


def regenerate_command(nodeid: str = "") -> str:
    """The command that rewrites the goldens (and baselines) a test compares with."""
    target = f" {shlex.quote(nodeid)}" if nodeid else ""
    return f"python -m pytest {UPDATE_OPTION}{target}"


def check_golden(path: Path, text: str, *, update: bool, command: str = regenerate_command()) -> None:
    """Compare ``text`` with the golden file ``path``; with ``update``, write it instead.

    A missing golden file fails (with the command that creates it) unless ``update`` is true.
    """
    __tracebackhide__ = True
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"golden file {path} is missing; create it with `{command}`, review it and commit it")
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"{path.name} differs from its golden file; if intended: `{command}`"


@pytest.fixture
def golden_dir() -> Path:
    return GOLDEN_DIR


@pytest.fixture
def golden(request, golden_dir):
    """``golden("name.txt", text)``: compare ``text`` with tests/golden/name.txt (rewrite it with the flag)."""
    update = update_requested()
    command = regenerate_command(request.node.nodeid)

    def check(name: str, text: str) -> None:
        __tracebackhide__ = True
        check_golden(golden_dir / name, text, update=update, command=command)

    return check


def render_plain(renderable, width: int = 120) -> str:
    """Render as the CLI does when piped: no colour, as wide as the table needs."""
    from rich.table import Table

    from shapetrace.render.text import render_text

    tables = [r for r in getattr(renderable, "renderables", [renderable]) if isinstance(r, Table)]
    return render_text(renderable, measure=tables[0] if tables else None, width=width)


def stable_json(data: dict) -> str:
    """JSON with run-dependent values (timings, versions) blanked, for golden comparison."""
    data = json.loads(json.dumps(data))
    data.get("totals", {}).pop("seconds", None)
    data.pop("versions", None)
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def render_terminal(renderable, width: int) -> str:
    """What a terminal ``width`` columns wide shows (colour off so the text can be read)."""
    from rich.console import Console

    console = Console(
        width=width, file=io.StringIO(), force_terminal=True, color_system=None, highlight=False, emoji=False
    )
    console.print(renderable)
    return console.file.getvalue()


_SHAPE = re.compile(r"\((?:None|\d+)(?:, ?(?:None|\d+))*,?\)")


def split_shapes(text: str) -> list[str]:
    """Every place where a shape starts on a line but does not end on it (should be none)."""
    broken = []
    for line in text.splitlines():
        for start in re.finditer(r"\((?=None|\d)", line):
            if not _SHAPE.match(line, start.start()) and re.match(
                r"\((?:None|\d+)(?:,|$)", line[start.start() :]
            ):
                broken.append(line)
    return broken


def assert_fits(text: str, width: int) -> None:
    from rich.cells import cell_len

    widest = max(cell_len(line) for line in text.splitlines())
    assert widest <= width, f"a line is {widest} cells wide in a {width}-column window:\n{text}"
    assert "…" not in text, f"something was cut at {width} columns:\n{text}"
    assert not split_shapes(text), f"shapes split at {width} columns: {split_shapes(text)}"


# --------------------------------------------------------------------------- the CLI runner


@dataclass(frozen=True)
class CliRun:
    """One ``shapetrace`` run: unpacks as ``code, out, err``."""

    code: int
    out: str
    err: str
    args: tuple[str, ...] = ()

    def __iter__(self):
        return iter((self.code, self.out, self.err))

    def __getitem__(self, index):
        return (self.code, self.out, self.err)[index]

    def describe(self) -> str:
        return (
            f"$ shapetrace {shlex.join(self.args)}\n[exit {self.code}]\n"
            f"--- stdout\n{self.out}--- stderr\n{self.err}"
        )


def _exit_code(code) -> int:
    if code is None:
        return 0
    return code if isinstance(code, int) else 1


def run_cli(*args) -> CliRun:
    """Run ``shapetrace ARGS`` in-process; returns a :class:`CliRun`. Tests take the ``cli`` fixture.

    Only a module-scoped fixture (which cannot take ``cli``) calls this directly.
    """
    from shapetrace.cli.app import main

    argv = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
            code = 0
        except SystemExit as done:
            code = _exit_code(done.code)
    return CliRun(code, out.getvalue(), err.getvalue(), tuple(argv))


@pytest.fixture
def cli(request):
    """``cli(*args)``: run ``shapetrace ARGS`` in-process; returns a :class:`CliRun` (``code, out, err``).

    Every run is shown in the report of a failing test.
    """
    runs: list[CliRun] = []
    request.node.stash[_CLI_RUNS] = runs

    def run(*args) -> CliRun:
        result = run_cli(*args)
        runs.append(result)
        return result

    return run


def run_fresh(args, *, cwd=None, env=None, timeout: float = 600, module: bool = True) -> CliRun:
    """Run ``python -m shapetrace ARGS`` (``module=False``: ``python -c ARGS[0] ARGS[1:]``) in a new process.

    For what needs a fresh interpreter: a Keras backend, an import that must not happen, a global
    registry that tests in this process already filled, a signal.
    """
    argv = [str(a) for a in args]
    command = [sys.executable, "-m", "shapetrace", *argv] if module else [sys.executable, "-c", *argv]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return CliRun(done.returncode, done.stdout, done.stderr, tuple(argv))


_CLI_RUNS = pytest.StashKey[list]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    runs = item.stash.get(_CLI_RUNS, None)
    if runs and report.failed and report.when == "call":
        report.sections.append(("shapetrace runs", "\n".join(run.describe() for run in runs)))


def one_line_error(code: int, err: str, *needles: str, exit_code: int = 2) -> str:
    """Assert a refusal: exit ``exit_code`` and one ``error:`` line holding every needle, no traceback."""
    __tracebackhide__ = True
    assert code == exit_code, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err
    return err


# --------------------------------------------------------------------------- shared fixtures


@pytest.fixture
def writes_baselines(monkeypatch):
    """For tests that create baselines on purpose: not in CI, no update asked for from outside."""
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("SHAPETRACE_UPDATE", raising=False)


@pytest.fixture(scope="session")
def nested_trace():
    """A Sequential around EfficientNetB0 (the story's nesting), 1 channel, small.

    Traced once for the session: a trace is frozen data, and test_plot and test_selection read it.
    """
    import shapetrace
    from shapetrace.tracing._keras_graph import keras

    keras.backend.clear_session()
    base = keras.applications.EfficientNetB0(include_top=False, weights=None, input_shape=(32, 32, 3))
    model = keras.Sequential(
        [keras.Input((32, 32, 3)), base, keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(4)],
        name="seq",
    )
    return shapetrace.trace_model(model, channels=1)


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """An image folder for the train tests: 3 classes × 12 PNGs of mixed modes and sizes."""
    from train_support import write_image_tree

    return write_image_tree(tmp_path_factory.mktemp("images") / "data", classes=3, per_class=12)
