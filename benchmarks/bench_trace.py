"""Trace engine benchmarks, measured side by side in one run; prints ratios, asserts nothing.

    python benchmarks/bench_trace.py            # everything (~5 min on 2 cores)
    python benchmarks/bench_trace.py --quick    # skip the slow one-sub-model-per-layer baseline

Each timing or memory figure comes from a fresh subprocess (so no run warms caches for
the next), runs alternate between the variants being compared, and the medians are compared.
Targets (issue 2):
  * EfficientNetB5 84x112, 1 channel: trace (build + walk) <= 1.15x build + one model(x);
    trace >= 30x faster than one sub-model per layer.
  * EfficientNetB7 600x600: trace's peak memory above the built model <= 0.5x plain model(x)'s.
  * `shapetrace --help` and `shapetrace list` < 0.5 s.
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

CHILD = r"""
import gc, json, os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
from shapetrace.tracing import _keras_graph as kg
keras = kg.keras
mode, name, h, w, c = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])

def rss_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])

def reset_peak():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")

x = np.random.default_rng(0).uniform(0, 255, (1, h, w, c)).astype("float32")
# Warm TensorFlow's one-time start-up (op registration, thread pools) identically for all modes.
keras.layers.Conv2D(2, 1)(x[:, :8, :8])
start = time.perf_counter()
if mode in ("plain", "plain_mem"):
    model = getattr(keras.applications, name)(include_top=False, weights=None, input_shape=(h, w, 3))
else:
    from shapetrace.models.applications import build_application
    from shapetrace.models.catalog import APPLICATIONS
    model = build_application(APPLICATIONS[name.lower()], size=(h, w))
built = time.perf_counter()
result = {}
if mode.endswith("_mem"):
    gc.collect(); reset_peak(); base = rss_kb("VmRSS")
    if mode == "plain_mem":
        y = model(x)
    else:
        from shapetrace.api import trace_model
        t = trace_model(model, channels=c)
        assert t.ok
    result["extra_mb"] = (rss_kb("VmHWM") - base) / 1024
    result["model_mb"] = base / 1024
elif mode == "plain":
    y = model(x)
elif mode == "trace":
    from shapetrace.api import trace_model
    t = trace_model(model, channels=c)
    assert t.ok
elif mode == "per_layer":
    # The naive approach: one sub-model per layer output, each run from the input.
    for layer in model.layers[1:]:
        keras.Model(model.inputs, layer.output)(x)
result["seconds"] = time.perf_counter() - start
result["build_seconds"] = built - start
print(json.dumps(result))
"""


def child(mode: str, name: str, h: int, w: int, c: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode, name, str(h), str(w), str(c)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def alternate(modes, args, repeats):
    results = {m: [] for m in modes}
    for _ in range(repeats):
        for mode in modes:
            results[mode].append(child(mode, *args))
    return results


def cli_seconds(args, repeats=7) -> float:
    # The console script beside this interpreter: the benchmark works without an activated venv.
    script = Path(sys.executable).with_name("shapetrace")
    command = str(script) if script.exists() else "shapetrace"
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([command, *args], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="skip the one-sub-model-per-layer run")
    parser.add_argument("--repeats", type=int, default=5)
    options = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")

    args = ("EfficientNetB5", 84, 112, 1)
    runs = alternate(["plain", "trace"], args, options.repeats)
    plain = statistics.median(r["seconds"] for r in runs["plain"])
    traced = statistics.median(r["seconds"] for r in runs["trace"])
    print(f"EfficientNetB5 84x112, 1 channel (median of {options.repeats}, fresh process each):")
    print(f"  build + model(x)          {plain:6.2f} s")
    print(f"  build + shapetrace trace  {traced:6.2f} s   ratio {traced / plain:.2f}x   (target <= 1.15x)")
    if not options.quick:
        naive = child("per_layer", *args)["seconds"]
        print(
            f"  one sub-model per layer   {naive:6.2f} s   trace is {naive / traced:.0f}x faster (target >= 30x)"
        )

    mem = alternate(["plain_mem", "trace_mem"], ("EfficientNetB7", 600, 600, 1), 2)
    plain_mb = statistics.median(r["extra_mb"] for r in mem["plain_mem"])
    trace_mb = statistics.median(r["extra_mb"] for r in mem["trace_mem"])
    model_mb = statistics.median(r["model_mb"] for r in mem["plain_mem"])
    print(
        "EfficientNetB7 600x600, 1 channel: peak resident memory above the built model "
        f"({model_mb:.0f} MB resident):"
    )
    print(f"  model(x)                  {plain_mb:7.0f} MB")
    print(
        f"  shapetrace trace          {trace_mb:7.0f} MB   ratio {trace_mb / plain_mb:.2f}x   (target <= 0.5x)"
    )

    help_s = cli_seconds(["--help"])
    list_s = cli_seconds(["list"])
    print(f"shapetrace --help  {help_s:.2f} s   shapetrace list  {list_s:.2f} s   (target < 0.5 s)")


if __name__ == "__main__":
    main()
