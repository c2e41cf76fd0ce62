"""Benchmarks for ``shapetrace train``, measured side by side in one run.

1. ``shapetrace train`` with every default (digits, EfficientNetB0 at 32×32 from scratch, 8
   epochs): held-out accuracy and wall time of the whole command (start-up included).
   Bar: ≥ 93% in ≤ 180 s. With ``--backends tensorflow,jax`` (issue 18) the same command runs
   on each backend, alternating, and the wall times are compared: JAX ≤ 1.3× TensorFlow's,
   ≥ 95% held-out accuracy, and its config.json says it ran on JAX.
2. Training throughput (images/s) of ``shapetrace train DATA_DIR`` (the digits written out as
   PNGs, through the tf.data pipeline) against a plain ``model.fit`` on the same images
   preloaded as in-memory float32 tensors: same model, batch size, split and epochs, runs
   interleaved A/B/A/B/A/B. Throughput counts the training steps of each epoch (from its start
   to its last batch), so validation and checkpoint writing are excluded for both; each figure
   is the median of the per-epoch rates (the machine is shared: medians resist other jobs'
   bursts), also per CPU-second of this process; epoch 1 (graph tracing, and for DATA_DIR the
   decode + cache fill) is reported separately. Bar: wall-clock ratio ≥ 0.9.

    python benchmarks/bench_train.py [--skip-default] [--skip-throughput] [--epochs 4] [--rounds 3]
    python benchmarks/bench_train.py --skip-throughput --backends tensorflow,jax [--default-rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def bench_default(work: Path, backend: str | None = None, extra: tuple[str, ...] = ()) -> dict:
    from shapetrace.train.config import TrainConfig

    work.mkdir(parents=True, exist_ok=True)
    out = work / TrainConfig().resolved().output  # runs/digits-efficientnetb0-32x32-repeat
    env = dict(os.environ)
    if backend:
        env["KERAS_BACKEND"] = backend
    started = time.perf_counter()
    proc = subprocess.run(  # literally `shapetrace train`, run from an empty folder
        [sys.executable, "-m", "shapetrace", "train", *extra, "--output", str(out)],
        capture_output=True,
        text=True,
        cwd=work,
        env=env,
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"default run failed ({proc.returncode}): {proc.stderr.strip()}")
    metrics = json.loads((out / "metrics.json").read_text())
    config = json.loads((out / "config.json").read_text())
    return {
        "backend": config.get("backend", "tensorflow"),
        "wall_seconds": round(wall, 1),
        "final_val_accuracy": metrics["final"]["val_accuracy"],
        "best_val_accuracy": metrics["best"]["val_accuracy"],
        "stdout": proc.stdout,
    }


class _StepTimer:
    """Times each epoch's training steps (epoch start → last batch end)."""

    def __init__(self, keras):
        outer = self

        class Timer(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                outer._start = (time.perf_counter(), time.process_time())

            def on_train_batch_end(self, batch, logs=None):
                outer._last = (time.perf_counter(), time.process_time())

            def on_epoch_end(self, epoch, logs=None):
                outer.seconds.append(outer._last[0] - outer._start[0])
                outer.cpu_seconds.append(outer._last[1] - outer._start[1])

        self.seconds: list[float] = []
        self.cpu_seconds: list[float] = []
        self.callback = Timer()


def bench_throughput(work: Path, epochs: int, rounds: int) -> dict:
    from shapetrace.models.catalog import resolve_application
    from shapetrace.tracing._keras_graph import keras
    from shapetrace.train import recipe
    from shapetrace.train.channels import assemble
    from shapetrace.train.config import TrainConfig
    from shapetrace.train.data import export_digits, scan_folder, stratified_split
    from shapetrace.train.run import train

    folder = work / "digits-png"
    export_digits(folder)
    base = TrainConfig(data=str(folder), epochs=epochs).resolved()
    app = resolve_application(base.model)

    # The same images, decoded once into memory (PIL, outside any timing).
    import numpy as np
    import tensorflow as tf
    from PIL import Image

    scanned = scan_folder(folder)
    labels = np.asarray(scanned.labels, dtype="int32")
    pixels = np.stack([np.asarray(Image.open(p).convert("L")) for p in scanned.paths])[..., None]
    images = tf.image.resize(pixels.astype("float32"), base.size).numpy().round().clip(0, 255)
    train_idx, val_idx = stratified_split(labels, base.val_split, base.seed)
    n_train = len(train_idx)

    results: dict[str, list[list[float]]] = {"data_dir": [], "in_memory": []}
    cpu: dict[str, list[list[float]]] = {"data_dir": [], "in_memory": []}
    for round_ in range(rounds):
        timer = _StepTimer(keras)
        config = TrainConfig(data=str(folder), epochs=epochs, output=str(work / f"run-{round_}"))
        train(config, callbacks=[timer.callback])
        results["data_dir"].append(timer.seconds)
        cpu["data_dir"].append(timer.cpu_seconds)

        keras.utils.set_random_seed(base.seed)
        model = assemble(base, app, 10).model
        recipe.compile_for(model, recipe.phases(base)[0], recipe.steps_per_epoch(n_train, base.batch_size))
        timer = _StepTimer(keras)
        model.fit(
            images[train_idx],
            labels[train_idx],
            batch_size=base.batch_size,
            epochs=epochs,
            validation_data=(images[val_idx], labels[val_idx]),
            verbose=0,
            callbacks=[timer.callback],
        )
        results["in_memory"].append(timer.seconds)
        cpu["in_memory"].append(timer.cpu_seconds)

    def rates(table, kind: str, first: bool) -> float:
        """Median over rounds and epochs of per-epoch images/s (epoch 1 alone, or epochs 2+)."""
        epochs_ = [run[0] for run in table[kind]] if first else [s for run in table[kind] for s in run[1:]]
        return statistics.median(n_train / s for s in epochs_)

    steady = {k: rates(results, k, first=False) for k in results}
    first = {k: rates(results, k, first=True) for k in results}
    per_cpu = {k: rates(cpu, k, first=False) for k in cpu}
    return {
        "model": f"{app.name} {base.size[0]}x{base.size[1]} repeat, batch {base.batch_size}, {n_train} training images",
        "epochs": epochs,
        "rounds": rounds,
        "steady_images_per_s": {k: round(v, 1) for k, v in steady.items()},
        "steady_ratio": round(steady["data_dir"] / steady["in_memory"], 3),
        "epoch1_images_per_s": {k: round(v, 1) for k, v in first.items()},
        "epoch1_ratio": round(first["data_dir"] / first["in_memory"], 3),
        "images_per_cpu_s": {k: round(v, 1) for k, v in per_cpu.items()},
        "cpu_ratio": round(per_cpu["data_dir"] / per_cpu["in_memory"], 3),
    }


def compare_backends(work: Path, backends: list[str], rounds: int, extra: list[str]) -> bool:
    """The default run on each backend, alternating; wall-time ratios against the first backend."""
    walls: dict[str, list[float]] = {b: [] for b in backends}
    accuracy: dict[str, list[float]] = {b: [] for b in backends}
    for round_ in range(rounds):
        for backend in backends:
            result = bench_default(work / f"{backend}-{round_}", backend, tuple(extra))
            assert result["backend"] == backend, result["backend"]  # its files say where it ran
            walls[backend].append(result["wall_seconds"])
            accuracy[backend].append(result["final_val_accuracy"])
            print(
                f"  {backend:<10} round {round_ + 1}: {result['wall_seconds']:.1f} s, held-out accuracy "
                f"{result['final_val_accuracy']:.2%} (best {result['best_val_accuracy']:.2%})",
                flush=True,
            )
    reference = backends[0]
    base = statistics.median(walls[reference])
    ok = True
    print(f"`shapetrace train {' '.join(extra)}` (median of {rounds}, whole command):")
    for backend in backends:
        wall = statistics.median(walls[backend])
        acc = statistics.median(accuracy[backend])
        line = f"  {backend:<10} {wall:7.1f} s   ratio {wall / base:.2f}x   held-out accuracy {acc:.2%}"
        if backend != reference:
            passed = wall <= 1.3 * base and acc >= 0.95
            ok &= passed
            line += f"   {'PASS' if passed else 'FAIL'} (bar: ≤ 1.3× {reference}, ≥ 95%)"
        print(line)
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-default", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--backends", default="", help="comma-separated Keras backends to compare the default run on"
    )
    parser.add_argument("--default-rounds", type=int, default=1, help="rounds of the backend comparison")
    parser.add_argument(
        "--train-args",
        default="",
        help="extra `shapetrace train` arguments for the comparison (quick trials)",
    )
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.2f} at start")
    with tempfile.TemporaryDirectory(prefix="shapetrace-bench-") as tmp:
        work = Path(tmp)
        ok = True
        if args.backends:
            ok &= compare_backends(
                work, args.backends.split(","), args.default_rounds, args.train_args.split()
            )
        elif not args.skip_default:
            result = bench_default(work)
            print(result.pop("stdout"))
            passed = result["final_val_accuracy"] >= 0.93 and result["wall_seconds"] <= 180
            ok &= passed
            print(
                f"default run: held-out accuracy {result['final_val_accuracy']:.2%} "
                f"(best {result['best_val_accuracy']:.2%}) in {result['wall_seconds']:.1f} s wall "
                f"→ {'PASS' if passed else 'FAIL'} (bar: ≥ 93% in ≤ 180 s)"
            )
        if not args.skip_throughput:
            result = bench_throughput(work, args.epochs, args.rounds)
            passed = result["steady_ratio"] >= 0.9
            ok &= passed
            s, f = result["steady_images_per_s"], result["epoch1_images_per_s"]
            print(
                f"throughput ({result['model']}; median per-epoch rate, {result['rounds']} interleaved rounds):"
            )
            print(
                f"  epochs 2–{result['epochs']}: DATA_DIR {s['data_dir']:.1f} img/s, in-memory "
                f"{s['in_memory']:.1f} img/s → ratio {result['steady_ratio']:.3f} "
                f"{'PASS' if passed else 'FAIL'} (bar: ≥ 0.9)"
            )
            c = result["images_per_cpu_s"]
            print(
                f"  epochs 2–{result['epochs']} per CPU-second of this process (robust to other jobs): "
                f"DATA_DIR {c['data_dir']:.1f}, in-memory {c['in_memory']:.1f} → ratio {result['cpu_ratio']:.3f}"
            )
            print(
                f"  epoch 1 (tracing; DATA_DIR also decodes and caches): DATA_DIR {f['data_dir']:.1f} "
                f"img/s, in-memory {f['in_memory']:.1f} img/s → ratio {result['epoch1_ratio']:.3f}"
            )
    print(f"load average {os.getloadavg()[0]:.2f} at end")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
