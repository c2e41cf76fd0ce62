"""The CLI on a terminal: tables fit the window, --wide restores the full table, a transient
status on stderr says what is happening; piped output and JSON stay as they were."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
from conftest import assert_fits
from rich.cells import cell_len

ANSI = re.compile(r"\x1b(?:\[[0-9;?]*[A-Za-z]|\][^\x07]*\x07|[()][A-Z0-9])")


@pytest.fixture
def terminal(monkeypatch):
    """Make the in-process CLI believe stdout is a terminal ``width`` columns wide."""

    def set_width(width: int) -> None:
        monkeypatch.setattr("shapetrace.cli.core.stdout_is_terminal", lambda: True)
        monkeypatch.setenv("COLUMNS", str(width))
        monkeypatch.setenv("NO_COLOR", "1")

    return set_width


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


def test_trace_fits_the_terminal_and_wide_prints_the_piped_table(cli, terminal):
    args = ["resnet50", "--channels", "1", "--size", "64x64"]
    code, piped, _ = cli(*args)
    terminal(80)
    code_fit, fitted, _ = cli(*args)
    code_wide, wide, _ = cli(*args, "--wide")
    assert code == code_fit == code_wide == 1
    assert_fits(fitted, 80)
    assert "Left out to fit 80 columns" in fitted and "resnet50/conv1_pad" not in fitted
    assert "conv1_pad" in fitted and "expected (None,70,70,3)," in fitted

    # --wide on a terminal: the table exactly as piped (every column, whole paths and shapes).
    def same(text):
        return [l for l in _lines(text) if "walked in" not in l]

    assert same(wide) == same(piped)
    assert max(cell_len(l) for l in _lines(wide)) > 80 and "resnet50/conv1_pad" in wide


@pytest.mark.slow
def test_json_is_the_same_on_a_terminal(cli, terminal):
    args = ["resnet50", "--channels", "1", "--size", "32", "--format", "json"]
    _, piped, _ = cli(*args)
    terminal(80)
    _, on_terminal, err = cli(*args)

    def strip(text):
        return {k: v for k, v in json.loads(text).items() if k not in ("totals", "versions")}

    assert strip(on_terminal) == strip(piped)
    assert err == ""  # no status: stderr is not a terminal here


# --------------------------------------------------------------------------- the status line


def test_status_is_transient_and_only_on_a_terminal():
    import io

    from rich.console import Console

    from shapetrace.cli.status import WorkStatus

    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=80, color_system=None)
    with WorkStatus(console) as status:
        status.say("building efficientnetb7…", now=True)
        status.walk_start(813)
        status.layer_done(668)
        status.say("running", now=True)
    shown = screen.getvalue()
    assert "building efficientnetb7…" in shown
    # Erased when done: the last thing written clears the status line.
    assert shown.endswith("\x1b[2K") and "\x1b[?25h" in shown
    piped = io.StringIO()
    with WorkStatus(Console(file=piped, force_terminal=False)) as status:
        status.say("building efficientnetb7…", now=True)
        assert status.trace_callbacks() == {}
    assert piped.getvalue() == ""


def test_progress_counts_every_layer_call_of_nested_models():
    """``on_walk_start`` announces exactly the rows the walk then records via ``on_layer``."""
    import shapetrace
    from shapetrace.tracing._keras_graph import keras

    keras.backend.clear_session()
    inner = keras.applications.MobileNetV3Small(input_shape=(32, 32, 3), include_top=False, weights=None)
    model = keras.Sequential(
        [keras.Input((32, 32, 3)), inner, keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(4)],
        name="classifier",
    )
    announced, counts = [], []
    trace = shapetrace.trace_model(model, channels=3, on_walk_start=announced.append, on_layer=counts.append)
    assert announced == [len(trace.layers)]
    assert counts == sorted(counts) and counts[-1] == len(trace.layers)


# --------------------------------------------------------------------------- a real terminal


def run_in_terminal(args: list[str], width: int, timeout: float = 300, stdout=None) -> tuple[int, str, str]:
    """Run a command with stdout and stderr each on its own pseudo-terminal ``width`` wide
    (``stdout``: an open file instead, as for ``shapetrace … > file`` typed in a terminal)."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR")}
    env["TERM"] = "xterm-256color"
    masters, slaves = [], []
    for _ in range(1 if stdout is not None else 2):
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, width, 0, 0))
        masters.append(master)
        slaves.append(slave)
    if stdout is not None:
        masters.insert(0, None)
    proc = subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=stdout if stdout is not None else slaves[0],
        stderr=slaves[-1],
        env=env,
        cwd=Path(__file__).parent,
    )
    for fd in slaves:
        os.close(fd)
    data = {fd: b"" for fd in masters}
    pending = {fd for fd in masters if fd is not None}
    while pending:
        ready, _, _ = select.select(list(pending), [], [], timeout)
        if not ready:
            proc.kill()
            raise AssertionError(f"{args} produced nothing for {timeout} s")
        for fd in ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the other side closed
                chunk = b""
            if chunk:
                data[fd] += chunk
            else:
                pending.discard(fd)
    code = proc.wait(timeout=timeout)
    for fd in masters:
        if fd is not None:
            os.close(fd)
    out, err = (data[fd].decode(errors="replace").replace("\r\n", "\n") for fd in masters)
    return code, out, err


def _trace_in_terminal(width: int, *args: str) -> tuple[int, str, str]:
    code, out, err = run_in_terminal([sys.executable, "-m", "shapetrace", *args], width)
    return code, ANSI.sub("", out), err


def test_real_terminal_80_columns_with_status_on_stderr():
    code, out, err = _trace_in_terminal(80, "resnet50", "--channels", "1", "--size", "64x64")
    assert code == 1, err
    assert_fits(out, 80)
    assert "conv1_conv" in out and "✗ breaks" in out and "Left out to fit 80 columns" in out
    # The status said what was happening, on stderr only, and was erased before the table.
    assert "building resnet50" in err and "importing TensorFlow" in err
    assert "building" not in out and "importing TensorFlow" not in out
    assert err.endswith("\x1b[2K")  # the status line erased: the last thing written to stderr


@pytest.mark.slow
@pytest.mark.parametrize("width", (80, 100, 120, 200))
def test_real_terminal_story_at_every_width(width):
    code, out, err = _trace_in_terminal(
        width, "efficientnetb0", "--channels", "1", "--size", "64x64", "--changes-only"
    )
    assert code == 0, err
    assert_fits(out, width)
    assert re.search(r"normalization .*1 ?→ ?3", out) and "broadcasts" in out
    assert "running the probe through layer" in err
    code, out, err = _trace_in_terminal(width, "resnet50", "--channels", "1", "--size", "64x64")
    assert code == 1
    assert_fits(out, width)
    row = next(line for line in out.splitlines() if " conv1_conv " in line)
    # One shape style per output: Keras's spaced form, or the compact form throughout a table
    # too narrow for it (issue 21).
    spaced = "expected (None, 70, 70, 3)," in row
    assert "✗ breaks" in row and (spaced or "expected (None,70,70,3)," in row), row
    other = re.compile(r"\(1,\d" if spaced else r"\(1, \d")
    assert not other.search(out), out


@pytest.mark.slow
def test_redirected_stdout_in_a_terminal_gets_the_full_table_only(tmp_path):
    """``shapetrace … > file`` typed in a terminal: the file gets today's full table, nothing
    else; the status goes to the terminal (stderr)."""
    target = tmp_path / "out.txt"
    with open(target, "w") as file:
        code, _, err = run_in_terminal(
            [sys.executable, "-m", "shapetrace", "resnet50", "--channels", "1", "--size", "32"],
            80,
            stdout=file,
        )
    text = target.read_text()
    assert code == 1 and "building resnet50" in err
    assert "\x1b" not in text and "building" not in text
    assert "resnet50/conv1_conv" in text and max(cell_len(line) for line in text.splitlines()) > 80


def test_check_reports_progress_through_the_rerun(tmp_path):
    """``check`` re-runs a trace: its status gets the same layer counts as ``trace``."""
    import shutil

    from shapetrace.baselines.baseline import snapshot
    from shapetrace.baselines.check import check_baseline

    shutil.copy(Path(__file__).parent / "user_models.py", tmp_path / "user_models.py")
    path = tmp_path / "ops_model.json"
    written = snapshot(str(tmp_path / "user_models.py") + ":ops_model", path)
    announced, counts = [], []
    result = check_baseline(path, on_walk_start=announced.append, on_layer=counts.append)
    assert result.status == "match"
    assert counts and counts == sorted(counts) and counts[-1] == len(written.layers)
    assert len(announced) == 1
