"""examples/ci works where docs/ci.md says to put it, and snapshot warns when check will refuse."""

from __future__ import annotations

import glob
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "ci"


def _copy_example(fresh: Path) -> None:
    """`cp -r examples/ci/. fresh/`, as docs/ci.md says (dotfiles included)."""
    shutil.copytree(EXAMPLE, fresh, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))


@pytest.mark.parametrize("git", [False, True], ids=["plain-folder", "git-repository"])
def test_the_ci_example_checks_when_copied_into_a_fresh_folder(git, tmp_path, monkeypatch, cli):
    fresh = tmp_path / "fresh"
    _copy_example(fresh)
    if git:
        if shutil.which("git") is None:
            pytest.skip("git is not installed")
        subprocess.run(["git", "init", "-q"], cwd=fresh, check=True)
    monkeypatch.chdir(fresh)
    code, out, err = cli("check", *sorted(glob.glob("tests/shapes/*.json")))
    assert code == 0, err
    assert "digits_cnn matches" in out


def test_the_project_marker_marks_the_root(tmp_path):
    from shapetrace.baselines.project import project_root

    (tmp_path / "a" / "tests" / "shapes").mkdir(parents=True)
    assert (
        project_root(tmp_path / "a" / "tests" / "shapes") == (tmp_path / "a" / "tests" / "shapes").resolve()
    )
    (tmp_path / "a" / ".shapetrace-project").write_text("")
    assert project_root(tmp_path / "a" / "tests" / "shapes") == (tmp_path / "a").resolve()


def test_outside_project_names_what_check_will_refuse(tmp_path):
    from shapetrace.baselines.project import outside_project

    (tmp_path / "tests" / "shapes").mkdir(parents=True)
    (tmp_path / "model.py").write_text("def build_model():\n    pass\n")
    baseline = tmp_path / "tests" / "shapes" / "m.json"
    why = outside_project({"model": "../../model.py:build_model"}, baseline)
    assert why is not None and "factory '../../model.py:build_model'" in why
    assert str((tmp_path / "model.py").resolve()) in why and ".shapetrace-project" in why
    assert outside_project({"model": "resnet50"}, baseline) is None
    assert outside_project({"model": "x", "imports": ["../../model.py"]}, baseline) is not None
    (tmp_path / ".shapetrace-project").write_text("")
    assert outside_project({"model": "../../model.py:build_model"}, baseline) is None


def test_snapshot_warns_when_check_will_refuse_and_check_does(tmp_path, monkeypatch, cli):
    from shapetrace.baselines.baseline import snapshot
    from shapetrace.errors import OutsideProjectWarning

    fresh = tmp_path / "fresh"
    _copy_example(fresh)
    (fresh / ".shapetrace-project").unlink()
    monkeypatch.chdir(fresh)
    with pytest.warns(OutsideProjectWarning, match=r"check` will refuse .*\.shapetrace-project"):
        snapshot("model.py:build_model", "tests/shapes/new.json")
    code, _, err = cli("check", "tests/shapes/new.json")
    assert code == 2 and "outside the project" in err
    # Marked, the same file is accepted, and writing it again says nothing.
    (fresh / ".shapetrace-project").write_text("")
    with warnings.catch_warnings():
        warnings.simplefilter("error", OutsideProjectWarning)
        snapshot("model.py:build_model", "tests/shapes/new.json")
    code, _, err = cli("check", "tests/shapes/new.json")
    assert code == 0, err
