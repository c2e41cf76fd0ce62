"""Benchmark: the survey vs merely building the same models, side by side in one process.

    python benchmarks/bench_survey.py [--channels 1] [--size 128x128] [--models REGEX] [--no-jobs]

For each of the (40) models, in one process, it times (a) building the model
exactly as the survey does, then one plain Keras forward pass of the same probe (``model(x)``:
the floor of any tool that really runs the probe), then throwing it away, and (b) surveying that model
(``shapetrace.explore.survey.survey`` on just that model: build, trace, condense). The
two are interleaved, and their order alternates from one model to the next, so
the load of other processes on the machine and any warm-up hit both sides
alike. The sums of (b) and (a) are the whole survey and the plain build of all
models; their ratio is printed. Target: ratio <= 1.1 (exit code 1 above it).

Then (unless ``--no-jobs``) the whole survey of the same models runs twice more, serially and
with ``jobs=2`` (two spawned worker processes, each importing TensorFlow itself), and their
wall-clock times are compared: what ``shapetrace survey --jobs 2`` saves on this machine.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time

TARGET = 1.1


def build_once(app, size: str, channels: int) -> tuple[float, float]:
    """Seconds to build the model as the survey does, then seconds of one plain Keras forward
    pass of a probe like the survey's (``model(x)``, until it returns or raises): the floor of
    any tool that really runs the probe through the model."""
    import numpy as np

    from shapetrace.explore.survey import resolve_size
    from shapetrace.models.applications import build_application
    from shapetrace.tracing._keras_graph import grouped_conv_without_xla

    hw = resolve_size(app, size)
    start = time.perf_counter()
    model = build_application(app, size=hw)  # clears the session first
    built = time.perf_counter() - start
    x = np.random.default_rng(0).uniform(0, 255, (1, *hw, channels)).astype("float32")
    start = time.perf_counter()
    try:
        with grouped_conv_without_xla():  # as the trace runs them: no XLA compile per grouped conv
            model(x)
    except Exception:  # a 1-channel probe breaks where the survey says it does
        pass
    forward = time.perf_counter() - start
    del model
    return built, forward


def survey_once(app, channels: int, size: str):
    from shapetrace.explore.survey import survey

    start = time.perf_counter()
    result = survey(channels=channels, size=size, models=f"^{re.escape(app.key)}$")
    return time.perf_counter() - start, result.rows[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--size", default="128x128")
    parser.add_argument("--models", default=None)
    parser.add_argument("--no-jobs", action="store_true", help="skip the --jobs 2 comparison")
    args = parser.parse_args(argv)
    print(f"machine: {len(os.sched_getaffinity(0))} cores, load average {os.getloadavg()[0]:.1f}", flush=True)

    from shapetrace.explore.survey import select_applications
    from shapetrace.tracing import _keras_graph as kg

    apps = select_applications(args.models)
    build_total = survey_total = walks = own_builds = forward_total = 0.0
    passed = 0
    for i, app in enumerate(apps):
        if i % 2 == 0:
            build, forward = build_once(app, args.size, args.channels)
            seconds, row = survey_once(app, args.channels, args.size)
        else:
            seconds, row = survey_once(app, args.channels, args.size)
            build, forward = build_once(app, args.size, args.channels)
        build_total += build
        forward_total += forward
        survey_total += seconds
        walks += row.trace_seconds
        own_builds += row.build_seconds
        passed += row.verdict == "ok"
        print(
            f"{app.name:<18} build {build:6.2f} s   model(x) {forward:5.2f} s   survey {seconds:6.2f} s   ({row.verdict})",
            flush=True,
        )
    kg.reset_naming()
    ratio = survey_total / build_total
    print(f"models:               {len(apps)} at {args.size}, probe with {args.channels} channel(s)")
    print(f"build only:           {build_total:8.2f} s")
    print(
        f"survey (build+trace): {survey_total:8.2f} s  (layer walks {walks:.2f} s, {passed} of {len(apps)} pass)"
    )
    # What the survey adds beyond its own builds and layer walks: shapetrace's bookkeeping.
    rest = survey_total - own_builds - walks
    print(f"beyond its builds and layer walks: {rest:.2f} s ({1000 * rest / len(apps):.0f} ms per model)")
    print(f"ratio:                {ratio:8.3f}  (target <= {TARGET})")
    # The floor: building plus one plain Keras forward pass of the same probe, no shapetrace at all.
    floor = (build_total + forward_total) / build_total
    print(
        f"build + model(x):     {build_total + forward_total:8.2f} s  (Keras's own forward pass: {forward_total:.2f} s)"
    )
    print(f"floor ratio:          {floor:8.3f}  (what any tool that runs the probe through the model pays)")
    print(f"survey / floor:       {survey_total / (build_total + forward_total):8.3f}", flush=True)
    if not args.no_jobs:
        from shapetrace.explore.survey import survey

        start = time.perf_counter()
        serial = survey(channels=args.channels, size=args.size, models=args.models)
        serial_seconds = time.perf_counter() - start
        start = time.perf_counter()
        parallel = survey(channels=args.channels, size=args.size, models=args.models, jobs=2)
        parallel_seconds = time.perf_counter() - start
        same = [_stable(r) for r in serial.rows] == [_stable(r) for r in parallel.rows]
        print(f"survey serially:      {serial_seconds:8.2f} s  (load average {os.getloadavg()[0]:.1f})")
        print(
            f"survey --jobs 2:      {parallel_seconds:8.2f} s  ({serial_seconds / parallel_seconds:.2f}x faster; "
            f"rows {'identical' if same else 'DIFFER'})"
        )
        if not same:
            return 1
    return 0 if ratio <= TARGET else 1


def _stable(row) -> dict:
    return {k: v for k, v in row.to_dict().items() if not k.endswith("seconds")}


if __name__ == "__main__":
    sys.exit(main())
