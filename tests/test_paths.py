"""Paths as a person would type them: relative to a folder, ``/``-separated."""

from __future__ import annotations

from shapetrace.models.paths import local_path, relative_path


def test_relative_path_to_a_folder(tmp_path):
    assert relative_path(tmp_path / "models" / "net.py", tmp_path) == "models/net.py"
    assert relative_path(tmp_path / "net.py", tmp_path / "shapes") == "../net.py"
    assert relative_path(tmp_path, tmp_path) == "."


def test_relative_path_resolves_the_folder(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert relative_path(tmp_path.resolve() / "real" / "net.py", tmp_path / "link") == "net.py"


def test_local_path_is_from_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "shapes").mkdir()
    monkeypatch.chdir(tmp_path / "shapes")
    assert local_path(tmp_path / "models" / "net.py") == "../models/net.py"
    assert local_path(tmp_path / "shapes" / "net.json") == "net.json"
