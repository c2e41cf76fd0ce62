"""benchmarks/bench_gpu.py runs end to end where TensorFlow is not installed (issue 18).

The GPU machine it is written for has JAX, PyTorch and CUDA but no TensorFlow. Here, on the CPU
with JAX, a ``sitecustomize`` on ``PYTHONPATH`` makes ``import tensorflow`` fail in the script and
in every process it starts, as if it were not installed; ``--quick`` keeps the models small.
(pydantic cannot be left out the same way: typer imports it to build the command line.)
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

NOT_INSTALLED = """
import importlib.abc, sys
_GONE = ("tensorflow",)
class _NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in _GONE:
            raise ImportError(f"No module named {name!r} (not installed on this machine)")
        return None
sys.meta_path.insert(0, _NotInstalled())
"""


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_gpu_script_runs_without_tensorflow(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(NOT_INSTALLED)
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("KERAS_BACKEND", None)
    probe = subprocess.run(
        [sys.executable, "-c", "import tensorflow"], capture_output=True, text=True, env=env
    )
    assert probe.returncode != 0 and "not installed on this machine" in probe.stderr  # the setting holds
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_gpu.py"), "--quick", "--backends", "jax,torch"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=2400,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "FAILED" not in out and "must not happen" not in out
    assert out.count("(ran on jax)") == 4  # three traces and a training run, all on JAX
    if importlib.util.find_spec("torch") is None:
        assert "torch: not installed here, skipped" in out
