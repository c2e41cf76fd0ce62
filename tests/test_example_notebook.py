"""The example notebook runs top to bottom, and what it shows is what is kept in it.

``examples/notebook/shapetrace_in_a_notebook.ipynb`` is committed executed, outputs kept (so it
reads well on GitHub). This test executes it in a fresh kernel and compares every cell's
output with the kept one, timings and versions aside; ``pytest --shapetrace-update`` keeps the new
outputs instead (after ``python examples/notebook/make_notebook.py`` when the cells changed).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from shapetrace.testing import update_requested

nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed: pip install -e '.[test]'")
nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed: pip install -e '.[test]'")
pytest.importorskip("ipykernel", reason="ipykernel is not installed: pip install -e '.[test]'")

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "notebook" / "shapetrace_in_a_notebook.ipynb"

# What differs between two runs of the same notebook: timings (and so the width of a column of
# them), and the versions in the footer.
_RUN_DEPENDENT = [
    (re.compile(r"Keras [0-9][^ ]* on "), "Keras _ on "),
    (re.compile(r"\b\d+(\.\d+)? s\b"), "_ s"),
    (re.compile(r"\d+\.\d+( *│)$", re.M), r"_\1"),  # the survey's seconds, its last column
    (re.compile(r"[ ━─]+"), " "),
]


def shown(cell) -> list[str]:
    """What a cell displays (HTML when it has some, else text), run-dependent parts blanked."""
    found = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            found.append(f"error: {output.get('ename')}: {output.get('evalue')}")
            continue
        if output.get("output_type") == "stream":
            continue  # log lines are not what the notebook shows a reader
        data = output.get("data", {})
        text = data.get("text/html") or data.get("text/plain") or ""
        for pattern, replacement in _RUN_DEPENDENT:
            text = pattern.sub(replacement, text)
        found.append(text)
    return found


@pytest.mark.slow
def test_example_notebook_runs_and_shows_what_it_keeps():
    kept = nbformat.read(NOTEBOOK, as_version=4)
    fresh = nbformat.read(NOTEBOOK, as_version=4)
    env_before = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"  # the kernel inherits it: no C++ start-up chatter in the outputs
    try:
        nbclient.NotebookClient(
            fresh, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
        ).execute()
    finally:
        if env_before is None:
            os.environ.pop("TF_CPP_MIN_LOG_LEVEL", None)
        else:
            os.environ["TF_CPP_MIN_LOG_LEVEL"] = env_before
    for cell in fresh.cells:  # stderr lines (TensorFlow's, the kernel's) are not part of the story
        if cell.cell_type == "code":
            cell.outputs = [
                o
                for o in cell.outputs
                if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
            ]

    outputs = [shown(c) for c in fresh.cells if c.cell_type == "code"]
    assert not [o for cell in outputs for o in cell if o.startswith("error:")], outputs
    gray, first, broken, _, tiny, tiny_gray, comparison, surveyed = outputs
    assert "efficientnetb5/normalization" in gray[0] and "<details>" in gray[0]  # folded to its changes
    assert "the input broadcasts against its mean" in first[0]
    assert "✗ breaks" in broken[0] and "resnet50/conv1_conv" in broken[0]
    assert (
        "tiny_resnet/block1/" in tiny[0]
        and "ResidualBlock" in tiny[0]
        and "Verdict: </span><span" in tiny[0].replace("\n", "")
    )
    assert "✗ breaks" in tiny_gray[0]
    assert "tiny_resnet/block1/" in comparison[0]
    assert "MobileNetV2" in surveyed[0]

    if update_requested():
        nbformat.write(fresh, NOTEBOOK)
        return
    kept_outputs = [shown(c) for c in kept.cells if c.cell_type == "code"]
    assert all(kept_outputs), (
        f"{NOTEBOOK.name} is kept without outputs; run this test with --shapetrace-update"
    )
    assert outputs == kept_outputs, (
        f"{NOTEBOOK.name} shows something else now; if intended: pytest --shapetrace-update"
    )
