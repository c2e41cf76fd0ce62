"""Absolute times on a GPU machine (JAX and/or PyTorch with CUDA, no TensorFlow), beside the CPU ratios.

What it runs, on each backend that imports here (``--backends jax,torch`` by default), each in a
fresh process, TensorFlow's import blocked (nothing on this path may need it):

* the trace of the flagship (``shapetrace efficientnetb5 --channels 1``), of EfficientNetB7 at
  600×600, and of a subclassed model (its real call, recorded);
* the default training run (``shapetrace train``: digits, EfficientNetB0 32×32, 8 epochs).

For each: whole-process wall time, the walk time the trace reports (or the training's accuracy),
and whether the rows agree between the backends. The CPU ratios measured on 2 cores
(docs/benchmarks.md) are printed beside them.

Setting up a machine without TensorFlow (the wheels are built or downloaded elsewhere)::

    pip install --no-deps keras typer shapetrace        # wheels or a source checkout
    pip install --no-deps absl-py namex optree ml-dtypes h5py rich shellingham annotated-doc \\
        pydantic pydantic-core annotated-types typing-inspection \\
        scikit-learn pillow matplotlib                  # what is missing of these
    python benchmarks/bench_gpu.py                      # --quick: small sizes, a few minutes

shapetrace itself never imports pydantic, but typer (0.29) does when it builds the command line
(``typer/_adapters.py``): pydantic and its dependencies must come along, pydantic-core as a
binary wheel for the GPU machine's Python and platform.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

BLOCKED = ("tensorflow",)
CPU_RATIOS = {
    # docs/benchmarks.md (issue 18): 2 shared CPU cores, whole process, JAX time / TensorFlow time.
    "trace efficientnetb0 64x64 ch1": "JAX / TensorFlow 0.42-0.68x (3.8x before the JAX fast path)",
    "trace efficientnetb5 ch1 (flagship)": "JAX / TensorFlow for B0 64x64: 0.42-0.68x",
    "shapetrace train (defaults)": "JAX / TensorFlow: see docs/benchmarks.md#training-on-jax",
}

# Each child blocks the imports above, runs the CLI in-process, and reports what it loaded.
CHILD = r"""
import importlib.abc, json, sys, time
BLOCKED = tuple(json.loads(sys.argv[1]))
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked on this path (bench_gpu.py)")
        return None
sys.meta_path.insert(0, Block())
started = time.perf_counter()
from shapetrace.cli.app import main
code = 0
try:
    main(json.loads(sys.argv[2]))
except SystemExit as exit_:
    code = exit_.code or 0
loaded = sorted({m.split(".")[0] for m in sys.modules} & set(BLOCKED))
print("\n" + json.dumps({"code": code, "seconds": time.perf_counter() - started, "loaded": loaded}))
"""

SUBCLASSED = textwrap.dedent(
    """
    import keras
    from keras import layers


    class Block(layers.Layer):
        def __init__(self, filters, **kwargs):
            super().__init__(**kwargs)
            self.conv1 = layers.Conv2D(filters, 3, padding="same", activation="relu")
            self.conv2 = layers.Conv2D(filters, 3, padding="same")
            self.add = layers.Add()

        def call(self, x):
            return keras.ops.relu(self.add([x, self.conv2(self.conv1(x))]))


    class Net(keras.Model):
        def __init__(self, width=64, blocks=8, **kwargs):
            super().__init__(**kwargs)
            self.stem = layers.Conv2D(width, 3, padding="same")
            self.blocks = [Block(width) for _ in range(blocks)]
            self.pool = layers.GlobalAveragePooling2D()
            self.head = layers.Dense(10)

        def call(self, x):
            x = self.stem(x)
            for block in self.blocks:
                x = block(x)
            return self.head(self.pool(x))


    def net(size=224, blocks=8):
        import numpy as np

        model = Net(blocks=blocks, name="subclassed")
        model(np.zeros((1, size, size, 3), "float32"))
        return model
    """
)


def cases(work: Path, quick: bool) -> list[tuple[str, list[str]]]:
    model_file = work / "subclassed_net.py"
    model_file.write_text(SUBCLASSED)
    if quick:
        return [
            ("trace efficientnetb0 64x64 ch1", ["efficientnetb0", "--size", "64x64", "--channels", "1"]),
            ("trace efficientnetb0 96x96", ["efficientnetb0", "--size", "96x96"]),
            ("trace subclassed", [f"{model_file}:net", "--size", "32x32"]),
            (
                "train mobilenetv3small (quick)",
                [
                    "train",
                    "--model",
                    "mobilenetv3small",
                    "--limit",
                    "96",
                    "--epochs",
                    "1",
                    "--batch-size",
                    "16",
                ],
            ),
        ]
    return [
        ("trace efficientnetb5 ch1 (flagship)", ["efficientnetb5", "--channels", "1"]),
        ("trace efficientnetb7 600x600", ["efficientnetb7", "--size", "600x600", "--channels", "1"]),
        ("trace subclassed 224x224", [f"{model_file}:net", "--size", "224x224"]),
        ("shapetrace train (defaults)", ["train"]),
    ]


def run_case(backend: str, name: str, args: list[str], work: Path) -> dict:
    if args[0] == "train":
        output = work / f"run-{backend}-{len(name)}"
        args = [*args, "--output", str(output), "--overwrite"]
    else:
        args = [*args, "--format", "json"]
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(BLOCKED), json.dumps(args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=work,
    )
    wall = time.perf_counter() - started
    lines = done.stdout.strip().splitlines()
    try:
        report = json.loads(lines[-1])
    except (IndexError, ValueError):
        report = {"code": done.returncode, "loaded": ["?"]}
    result: dict = {"wall": wall, "code": report["code"], "loaded": report["loaded"], "error": ""}
    if report["code"] != 0 or done.returncode != 0:
        result["error"] = (done.stderr.strip() or done.stdout.strip())[-600:]
        return result
    if args[0] == "train":
        metrics = json.loads((output / "metrics.json").read_text())
        config = json.loads((output / "config.json").read_text())
        result["accuracy"] = metrics["final"]["val_accuracy"]
        result["ran_on"] = config.get("backend")
    else:
        document = json.loads("\n".join(lines[:-1]))
        result["walk"] = document["totals"]["seconds"]
        result["rows"] = [
            {k: v for k, v in row.items() if not k.endswith("seconds")} for row in document["layers"]
        ]
        result["ran_on"] = document["versions"]["backend"]
    return result


def device_line(backend: str) -> str:
    code = {
        "jax": "import jax; print(jax.devices())",
        "torch": "import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu')",
    }[backend]
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return done.stdout.strip() or done.stderr.strip()[-200:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="jax,torch")
    parser.add_argument(
        "--quick", action="store_true", help="small sizes (minutes on a CPU): the script's own test"
    )
    options = parser.parse_args()
    backends = [b for b in options.backends.split(",") if b]
    missing = [b for b in backends if importlib.util.find_spec(b) is None]
    for backend in missing:
        print(f"{backend}: not installed here, skipped")
    backends = [b for b in backends if b not in missing]
    if not backends:
        raise SystemExit("none of the backends is installed")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; python {sys.version.split()[0]}")
    for backend in backends:
        print(f"{backend} devices: {device_line(backend)}")
    failed = False
    with tempfile.TemporaryDirectory(prefix="shapetrace-gpu-") as tmp:
        work = Path(tmp)
        for name, args in cases(work, options.quick):
            results = {backend: run_case(backend, name, args, work) for backend in backends}
            print(f"{name}:  (CPU, 2 cores: {CPU_RATIOS.get(name, 'n/a')})")
            for backend, result in results.items():
                if result["error"]:
                    failed = True
                    print(f"  {backend:<6} FAILED (exit {result['code']}): {result['error']}")
                    continue
                if result["loaded"]:
                    failed = True
                    print(f"  {backend:<6} imported {', '.join(result['loaded'])}: that must not happen")
                detail = (
                    f"held-out accuracy {result['accuracy']:.2%}"
                    if "accuracy" in result
                    else f"walk {result['walk']:.2f} s, {len(result['rows'])} rows"
                )
                print(
                    f"  {backend:<6} {result['wall']:7.1f} s whole process   {detail}   (ran on {result['ran_on']})"
                )
            traced = [r["rows"] for r in results.values() if "rows" in r]
            if len(traced) > 1:
                same = all(rows == traced[0] for rows in traced[1:])
                failed |= not same
                print(f"  rows equal on {', '.join(results)}: {'yes' if same else 'NO'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
