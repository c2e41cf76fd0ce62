"""The suite's own fixtures: a missing golden file fails, one flag regenerates; the CLI runner."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import check_golden, regenerate_command, run_fresh

pytest_plugins = ["pytester"]


def test_missing_golden_fails_with_the_command_that_creates_it(tmp_path):
    path = tmp_path / "golden" / "new.txt"
    with pytest.raises(
        pytest.fail.Exception, match=r"missing; create it with `python -m pytest --shapetrace-update"
    ):
        check_golden(path, "text\n", update=False)
    assert not path.exists()


def test_different_golden_fails_and_is_left_alone(tmp_path):
    path = tmp_path / "kept.txt"
    path.write_text("old\n")
    with pytest.raises(AssertionError, match="differs from its golden file; if intended: `python -m pytest"):
        check_golden(path, "new\n", update=False)
    assert path.read_text() == "old\n"
    check_golden(path, "old\n", update=False)  # the same text passes


def test_update_writes_missing_and_different_goldens(tmp_path):
    path = tmp_path / "golden" / "new.txt"
    check_golden(path, "first\n", update=True)
    check_golden(path, "second\n", update=True)
    assert path.read_text() == "second\n"


def test_regenerate_command_names_the_test():
    assert regenerate_command("tests/test_x.py::test_y") == (
        "python -m pytest --shapetrace-update tests/test_x.py::test_y"
    )


GOLDEN_TEST = """
def test_pinned(golden):
    golden("pinned.txt", "shown\\n")
"""


def _suite(pytester) -> Path:
    """A one-test suite that uses this suite's conftest, with its golden files in ``golden/``."""
    conftest = Path(__file__).with_name("conftest.py").read_text()
    pytester.makeconftest(
        conftest
        + "\n\n@pytest.fixture\ndef golden_dir(request):\n    return request.config.rootpath / 'golden'\n"
    )
    pytester.makepyfile(test_pinned=GOLDEN_TEST)
    return pytester.path / "golden" / "pinned.txt"


def test_golden_fixture_fails_without_the_flag_and_writes_with_it(pytester, monkeypatch):
    monkeypatch.delenv("SHAPETRACE_UPDATE", raising=False)
    golden = _suite(pytester)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*golden file*pinned.txt is missing; create it with*--shapetrace-update*"])
    assert not golden.exists()

    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--shapetrace-update")
    result.assert_outcomes(passed=1)
    assert golden.read_text() == "shown\n"

    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")  # now it compares
    result.assert_outcomes(passed=1)


def test_cli_runner_captures_code_and_both_streams(cli):
    code, out, err = cli("--version")
    assert code == 0 and out.startswith("shapetrace ") and err == ""
    run = cli("no-such-model-anywhere")
    assert run.code == 2 and run.out == "" and run.err.startswith("error: "), run.describe()
    assert run.args == ("no-such-model-anywhere",)


def test_a_failing_test_shows_its_cli_runs(pytester):
    _suite(pytester)
    pytester.makepyfile(
        test_fails="def test_fails(cli):\n    assert cli('no-such-model-anywhere').code == 0\n"
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "test_fails.py")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*shapetrace runs*", "$ shapetrace no-such-model-anywhere", "[[]exit 2[]]"])


def test_fresh_runner_runs_a_new_interpreter():
    run = run_fresh(["--version"], timeout=120)
    assert run.code == 0 and run.out.startswith("shapetrace "), run.describe()
