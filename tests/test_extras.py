"""Optional packages: imported when present, else one line with the install command that brings them."""

from __future__ import annotations

import json
import sys

import pytest

from shapetrace.errors import UsageError
from shapetrace.extras import require, require_train


def test_a_present_module_is_returned():
    assert require("json", extra="plot", for_="--plot") is json


def test_a_missing_module_names_its_pip_package_and_the_extra(monkeypatch):
    with pytest.raises(
        UsageError, match=r"^--plot needs st_extras_absent: pip install 'shapetrace\[plot\]'$"
    ):
        require("st_extras_absent.sub", extra="plot", for_="--plot")
    monkeypatch.setitem(sys.modules, "PIL", None)  # an import of PIL now fails as if not installed
    with pytest.raises(UsageError, match=r"^training needs Pillow: pip install 'shapetrace\[train\]'$"):
        require_train()


def test_a_broken_package_keeps_its_own_error(tmp_path, monkeypatch):
    package = tmp_path / "st_extras_broken"
    package.mkdir()
    (package / "__init__.py").write_text("import st_extras_dependency_gone\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError) as info:
        require("st_extras_broken", extra="train", for_="training")
    assert info.value.name == "st_extras_dependency_gone"
