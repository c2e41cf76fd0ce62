"""The trace on JAX against TensorFlow, measured side by side in one run; prints ratios, asserts nothing.

    python benchmarks/bench_backends.py              # 3 rounds
    python benchmarks/bench_backends.py --repeats 5

Each figure is a whole process (interpreter start, imports, building the model, the walk, the
JSON): ``shapetrace efficientnetb0 --size 64x64 --channels 1 --format json``, fresh each time,
the backends alternating (the machine may be shared: medians, side by side). Also on JAX: the
same build plus one plain eager ``model(x)`` in a fresh process, which the trace should beat
(its walk uses ``jax.eval_shape``: see shapetrace/tracing/jax_trace.py). The rows of both backends are
compared field by field (tests/test_backends.py's comparison).

Targets (issue 18): JAX trace <= 1.5x TensorFlow's (goal <= 1.0x); JAX trace < JAX plain model(x).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARGS = ("efficientnetb0", "--size", "64x64", "--channels", "1", "--format", "json")
PLAIN = r"""
import numpy as np
from shapetrace.models.applications import build_application
from shapetrace.models.catalog import APPLICATIONS
model = build_application(APPLICATIONS["efficientnetb0"], size=(64, 64))
model(np.random.default_rng(0).uniform(0, 255, (1, 64, 64, 1)).astype("float32"))
"""


def env(backend: str) -> dict[str, str]:
    return {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}


def timed(command: list[str], backend: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env(backend), cwd=ROOT)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} on {backend} failed: {done.stderr.strip()[-2000:]}")
    return seconds, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")
    trace = [sys.executable, "-m", "shapetrace", *ARGS]
    plain = [sys.executable, "-c", PLAIN]
    times: dict[str, list[float]] = {"tensorflow": [], "jax": [], "jax plain model(x)": []}
    documents: dict[str, dict] = {}
    for _ in range(options.repeats):
        for backend in ("tensorflow", "jax"):
            seconds, out = timed(trace, backend)
            times[backend].append(seconds)
            documents[backend] = json.loads(out)
        times["jax plain model(x)"].append(timed(plain, "jax")[0])
    tf, jax, eager = (statistics.median(times[k]) for k in times)
    sys.path.insert(0, str(ROOT / "tests"))
    from test_backends import assert_same_rows

    assert_same_rows(documents["tensorflow"], documents["jax"])
    rows = len(documents["jax"]["layers"])
    print(
        f"EfficientNetB0 64x64, 1 channel, whole process (median of {options.repeats}, fresh process each):"
    )
    print(f"  TensorFlow trace          {tf:6.2f} s")
    print(
        f"  JAX trace                 {jax:6.2f} s   ratio {jax / tf:.2f}x   (target <= 1.5x, goal <= 1.0x)"
    )
    print(f"  JAX build + model(x)      {eager:6.2f} s   trace / plain {jax / eager:.2f}x   (target < 1.0x)")
    print(f"  rows equal field by field on both backends: {rows} rows")
    print("  all runs:", {k: [round(v, 1) for v in vs] for k, vs in times.items()})


if __name__ == "__main__":
    main()
