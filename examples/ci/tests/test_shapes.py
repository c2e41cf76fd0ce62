"""The model's shapes, checked against the committed baseline on every test run.

Regenerate after an intended change:  SHAPETRACE_UPDATE=1 pytest  (or pytest --shapetrace-update)
"""

from pathlib import Path

from shapetrace.testing import assert_shapes

HERE = Path(__file__).parent
ROOT = HERE.parent


def test_model_shapes():
    assert_shapes(f"{ROOT / 'model.py'}:build_model", HERE / "shapes" / "digits_cnn.json")
