"""The version is written once (``shapetrace/_version.py``, re-exported as ``shapetrace.__version__``)
and the package ships ``py.typed``."""

from __future__ import annotations

import json
import tomllib
from importlib import metadata
from pathlib import Path

from toy_models import toy_model

import shapetrace
from shapetrace.testing import assert_shapes

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_version_is_read_from_the_package():
    project = PYPROJECT["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "shapetrace._version.__version__"
    }
    # The installed metadata is built from it (after a version bump: pip install -e '.[test]' again).
    assert metadata.version("shapetrace") == shapetrace.__version__


def test_py_typed_is_shipped():
    assert (ROOT / "shapetrace" / "py.typed").is_file()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["shapetrace"]


def test_a_baseline_records_the_package_version(tmp_path, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    path = tmp_path / "toy.json"
    assert assert_shapes(toy_model, path, update=True).status == "created"
    assert json.loads(path.read_text())["versions"]["shapetrace"] == shapetrace.__version__
