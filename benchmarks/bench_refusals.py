"""How fast shapetrace refuses input that needs no model (issue 9 item 17); asserts nothing.

    python benchmarks/bench_refusals.py

Each figure is the median wall time of a fresh `shapetrace …` process (5 runs, alternated),
next to a plain `python -c "import tensorflow"` for scale. Target: every refusal well under
3 s — it must not import TensorFlow (the tests check that directly).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

RUNS = 5


def trojan(folder: Path) -> Path:
    config = {
        "class_name": "Functional",
        "config": {
            "name": "trojan",
            "layers": [{"class_name": "Lambda", "module": "keras.layers", "config": {"name": "evil"}}],
        },
    }
    path = folder / "trojan.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
    return path


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cli = [str(Path(sys.executable).with_name("shapetrace"))]  # the installed entry point
        cases = {
            "unsafe .keras refused": [*cli, str(trojan(folder))],
            "missing --weights file": [*cli, "resnet50", "--weights", str(folder / "missing.weights.h5")],
            "shapetrace --version": [*cli, "--version"],
            "python -c 'import tensorflow' (scale)": [sys.executable, "-c", "import tensorflow"],
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(RUNS):
            for name, argv in cases.items():
                start = time.perf_counter()
                subprocess.run(argv, capture_output=True)
                times[name].append(time.perf_counter() - start)
    print(f"median of {RUNS} fresh processes (target: refusals well under 3 s)")
    for name, values in times.items():
        print(f"  {name:<40} {statistics.median(values):6.2f} s")


if __name__ == "__main__":
    main()
