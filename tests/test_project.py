"""The project a baseline belongs to, and the code it may name: decided from files, nothing imported."""

from __future__ import annotations

import sys

import pytest

from shapetrace.baselines.project import allowed_code, inside, module_files, outside_project, project_root
from shapetrace.errors import UsageError


@pytest.fixture
def repo(tmp_path):
    """``project/`` (a pyproject.toml) holding ``net.py`` and ``shapes/``; ``outside.py`` beside it."""
    root = tmp_path / "project"
    (root / "shapes").mkdir(parents=True)
    (root / "pyproject.toml").write_text("")
    (root / "net.py").write_text("def build():\n    return 'built'\n")
    (tmp_path / "outside.py").write_text("def build():\n    return 'outside'\n")
    return root


def test_project_root_is_the_nearest_folder_with_git_or_pyproject(tmp_path):
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / "tests" / "shapes").mkdir(parents=True)
    assert project_root(tmp_path / "repo" / "tests" / "shapes") == (tmp_path / "repo").resolve()
    (tmp_path / "repo" / "tests" / "pyproject.toml").write_text("")
    assert project_root(tmp_path / "repo" / "tests" / "shapes") == (tmp_path / "repo" / "tests").resolve()


def test_without_a_marker_the_project_is_the_folder_itself(tmp_path):
    folder = tmp_path / "plain" / "shapes"
    folder.mkdir(parents=True)
    assert project_root(folder) in (folder.resolve(), *folder.resolve().parents)
    (tmp_path / "plain" / ".shapetrace-project").write_text("")
    assert project_root(folder) == (tmp_path / "plain").resolve()


def test_inside_follows_links(repo, tmp_path):
    root = repo.resolve()
    assert inside(repo / "net.py", root) and not inside(tmp_path / "outside.py", root)
    (repo / "link.py").symlink_to(tmp_path / "outside.py")
    assert not inside(repo / "link.py", root)


def test_module_files_are_every_package_init_and_the_module(tmp_path):
    package = tmp_path / "st_project_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text("")
    assert module_files("st_project_pkg.mod", [str(tmp_path)]) == [
        package / "__init__.py",
        package / "mod.py",
    ]
    assert "st_project_pkg" not in sys.modules  # located, never imported
    with pytest.raises(UsageError, match="cannot be found as a source file"):
        module_files("st_project_missing", [str(tmp_path)])
    with pytest.raises(UsageError, match="is not a package"):
        module_files("st_project_pkg.mod.inner", [str(tmp_path)])
    with pytest.raises(UsageError, match="built into Python"):
        module_files("sys", [str(tmp_path)])


def test_outside_project_names_the_code_check_would_refuse(repo):
    baseline = repo / "shapes" / "net.json"
    assert outside_project({"model": "../net.py:build"}, baseline) is None
    assert outside_project({"model": "resnet50"}, baseline) is None
    why = outside_project({"model": "../../outside.py:build"}, baseline)
    assert why is not None and "outside.py" in why and "is outside its project" in why
    assert "outside its project" in outside_project(
        {"model": "resnet50", "imports": ["../../outside.py"]}, baseline
    )


def test_allowed_code_imports_a_factory_from_inside_only(repo):
    baseline = repo / "shapes" / "net.json"
    code = allowed_code({"model": "../net.py:build"}, baseline)
    assert code.factory is not None and code.factory() == "built" and code.imports == ()
    assert allowed_code({"model": "resnet50"}, baseline).factory is None
    with pytest.raises(UsageError, match="which is not allowed"):
        allowed_code({"model": "../../outside.py:build"}, baseline)
