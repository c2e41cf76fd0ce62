"""Every output the docs quote is what shapetrace prints now, and their Python snippets run.

A drifted quote fails here with the diff; `python tools/regen_docs.py` rewrites them all
(docs/design.md, "Quoted outputs").
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import regen_docs  # noqa: E402

# Each quote costs fresh processes that import TensorFlow: the default run keeps the cheapest.
# (security-custom-objects saves two models and runs three processes: ~40 s here, so slow.)
FAST = {"ci-snapshot", "ci-bad-input", "security-not-allowed", "backends-train"}


def _param(quote):
    marks = [] if quote.name in FAST else [pytest.mark.slow]
    return pytest.param(quote, id=quote.name, marks=marks)


@pytest.mark.parametrize("quote", [_param(q) for q in regen_docs.QUOTES])
def test_quoted_output_is_current(quote):
    diff = regen_docs.drift(quote)
    assert not diff, f"{quote.target} drifted; run `python tools/regen_docs.py {quote.name}`:\n{diff}"


def test_every_marked_block_has_a_quote():
    names = {q.target.partition("#")[2] for q in regen_docs.QUOTES}
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for match in regen_docs.MARKER.finditer(path.read_text()):
            assert match.group("name") in names, f"{path.name}: no quote makes {match.group('name')!r}"


def test_normalized_ignores_only_timings_and_versions():
    a = '17 layer calls · walked in 0.21 s (stream engine)\n"keras": "3.15.1"'
    b = '17 layer calls · walked in 1.50 s (stream engine)\n"keras": "3.16.0"'
    assert regen_docs.normalized(a) == regen_docs.normalized(b)
    assert regen_docs.normalized("(1, 32, 32, 8)") != regen_docs.normalized("(1, 30, 30, 8)")
    # a survey CSV's last two columns are trace_seconds and build_seconds
    assert regen_docs.normalized("r,True,0.004,0.766\n") == regen_docs.normalized("r,True,0.010,1.200\n")
    assert regen_docs.normalized("r,23587712,0,False\n") != regen_docs.normalized("r,23587711,0,False\n")


def _python_blocks(doc: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```\n", (ROOT / "docs" / doc).read_text(), re.M | re.S)


@pytest.mark.slow  # each snippet traces models in a fresh process
@pytest.mark.parametrize("doc", ["api.md", "ci.md"])
def test_python_snippets_run(doc, tmp_path):
    """The snippets run as written, in a copy of examples/ci (where ci.md's paths exist)."""
    sandbox = tmp_path / "demo"
    shutil.copytree(ROOT / "examples" / "ci", sandbox, ignore=shutil.ignore_patterns("__pycache__"))
    env = regen_docs._env()
    for i, block in enumerate(_python_blocks(doc)):
        if "resnet50.weights.h5" in block and not (sandbox / "resnet50.weights.h5").exists():
            made = (
                "import keras; keras.applications.ResNet50(weights=None).save_weights('resnet50.weights.h5')"
            )
            subprocess.run([sys.executable, "-c", made], cwd=sandbox, env=env, check=True, timeout=1200)
        if "def test_" in block:  # a pytest test: collected and run as one
            (sandbox / "tests" / f"test_doc_{i}.py").write_text(block)
            code = ["-m", "pytest", "-q", "-p", "no:cacheprovider", f"tests/test_doc_{i}.py"]
        else:
            code = ["-c", block]
        done = subprocess.run(
            [sys.executable, *code],
            cwd=sandbox,
            # a test's new baseline (effb0.json) is written as --shapetrace-update would
            env={**env, "SHAPETRACE_UPDATE": "1"} if "def test_" in block else env,
            capture_output=True,
            text=True,
            timeout=1200,
        )
        assert done.returncode == 0, f"{doc} block {i}:\n{block}\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
