"""Shared fixtures: golden files (regenerate with `pytest --overwrite`), a fixed-width console."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

GOLDEN_DIR = Path(__file__).parent / "golden"


def pytest_addoption(parser):
    parser.addoption(
        "--overwrite",
        action="store_true",
        default=False,
        help="Rewrite golden files from the current output instead of comparing.",
    )


@pytest.fixture
def golden(request):
    """``golden("name.txt", text)``: compare ``text`` with tests/golden/name.txt (or rewrite it)."""
    overwrite = request.config.getoption("--overwrite")

    def check(name: str, text: str) -> None:
        path = GOLDEN_DIR / name
        if overwrite or not path.exists():
            if not overwrite and os.environ.get("CI"):
                pytest.fail(f"golden file {path} is missing; run `pytest --overwrite` locally")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            return
        expected = path.read_text(encoding="utf-8")
        assert text == expected, f"{name} differs from its golden file; if intended: pytest --overwrite"

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


def run_cli(args, capsys):
    """Run the CLI in-process; returns (exit code, stdout, stderr)."""
    from shapetrace.cli.app import main

    with pytest.raises(SystemExit) as info:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    return info.value.code, out, err
