"""User-model benchmarks, measured side by side in one run; prints ratios, asserts nothing.

    python benchmarks/bench_user_models.py            # 5 rounds (~3 min on 2 cores)
    python benchmarks/bench_user_models.py --rounds 3

Targets (issue 8):
  * a saved U-Net-sized user model (keras.io's U-Net at 160x160, saved as .keras):
    `shapetrace trace unet.keras` <= 1.15x a process that runs `keras.saving.load_model`
    + `model.summary()` — both as whole processes, from the shell;
  * a subclassed model (the README's TinyResNet-like ResNetish, tests/user_models.py):
    build + trace <= 1.3x build + one plain call, timed inside fresh processes (after the
    imports, which both pay equally).

Runs alternate between the variants; medians are compared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT / "tests")}

SAVE_UNET = r"""
import sys
import user_models
user_models.unet(img_size=(160, 160)).save(sys.argv[1])
"""
LOAD_SUMMARY = r"""
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import keras
keras.saving.load_model(sys.argv[1], compile=False).summary()
"""
SUBCLASSED = r"""
import os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
from shapetrace.tracing import _keras_graph as kg
import user_models
mode = sys.argv[1]
x = np.random.default_rng(0).uniform(0, 255, (1, 64, 64, 3)).astype("float32")
kg.keras.layers.Conv2D(2, 1)(x[:, :8, :8])  # TensorFlow's one-time start-up, paid alike by both
start = time.perf_counter()
model = user_models.ResNetish(name="resnetish")
if mode == "plain":
    model(x, training=False)
else:
    from shapetrace.api import trace_model
    trace_model(model, inputs={"": (64, 64, 3)})
print(time.perf_counter() - start)
"""


def _wall(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def _inner(argv: list[str]) -> float:
    done = subprocess.run(argv, check=True, env=ENV, capture_output=True, text=True)
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    shapetrace = str(Path(sys.executable).with_name("shapetrace"))
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}, load {os.getloadavg()[0]:.2f}")

    with tempfile.TemporaryDirectory() as folder:
        unet = str(Path(folder) / "unet.keras")
        subprocess.run([sys.executable, "-c", SAVE_UNET, unet], check=True, env=ENV)
        load, trace = [], []
        for _ in range(args.rounds):
            load.append(_wall([sys.executable, "-c", LOAD_SUMMARY, unet]))
            trace.append(_wall([shapetrace, "trace", unet]))
        a, b = statistics.median(load), statistics.median(trace)
        print(f"saved U-Net 160x160 (.keras), whole processes, median of {args.rounds}:")
        print(f"  load_model + summary()      {a:6.2f} s")
        print(f"  shapetrace trace unet.keras {b:6.2f} s   ratio {b / a:.2f}x   (target <= 1.15x)")

    plain, traced = [], []
    for _ in range(args.rounds):
        plain.append(_inner([sys.executable, "-c", SUBCLASSED, "plain"]))
        traced.append(_inner([sys.executable, "-c", SUBCLASSED, "trace"]))
    a, b = statistics.median(plain), statistics.median(traced)
    print(f"subclassed ResNetish 64x64, never built, inside fresh processes, median of {args.rounds}:")
    print(f"  build + one model(x)        {a:6.3f} s")
    print(f"  build + shapetrace trace    {b:6.3f} s   ratio {b / a:.2f}x   (target <= 1.3x)")


if __name__ == "__main__":
    main()
