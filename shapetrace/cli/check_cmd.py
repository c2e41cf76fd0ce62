"""``shapetrace snapshot MODEL -o FILE`` and ``shapetrace check BASELINE…``."""

from __future__ import annotations

import json
import os
import traceback
from pathlib import Path
from typing import Annotated

import typer

from shapetrace.cli.core import (
    DebugOption,
    WideOption,
    app,
    clip_message,
    emit,
    escape_message,
    flag_message,
    output_layout,
    print_error,
    reporting,
    stderr_console,
    stdout_to_stderr,
    work_status,
)
from shapetrace.cli.options import (
    ChannelsOption,
    FormatOption,
    ImportOption,
    ModelArg,
    UnsafeLoadOption,
    trace_options,
)
from shapetrace.cli.status import backend_loaded, importing_message
from shapetrace.errors import EXIT_FAILED, EXIT_OK, ShapetraceError
from shapetrace.messages import visible
from shapetrace.options import OutputFormat, TraceOptions


@app.command("snapshot")
@trace_options
def snapshot_command(
    model: ModelArg,
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="The baseline to write, e.g. tests/shapes/model.json.", show_default=False
        ),
    ],
    channels: ChannelsOption = None,
    options: TraceOptions = TraceOptions(),
    debug: DebugOption = False,
) -> None:
    """Trace MODEL and write the result as a baseline for `shapetrace check`.

    The file holds the trace and everything needed to run it again (model spec, probe
    options, Keras/TensorFlow versions): sorted keys, 2-space indent, written atomically.
    """
    from shapetrace.baseline import snapshot

    replacing = os.path.isfile(output)  # said in the result line: a snapshot never replaces a file silently
    with reporting(debug), stdout_to_stderr(), work_status() as status:
        status.making(model)
        result = snapshot(
            model,
            output,
            channels=channels,
            options=options,
            **status.trace_callbacks(),
        )
    probes = ", ".join(str(tuple(p.shape)) for p in result.probes)
    note = "" if result.ok else " (the probe breaks: the baseline records where)"
    typer.echo(
        visible(  # the model's name and the path are the user's: shown, never acted on
            f"{'Replaced' if replacing else 'Wrote'} {output}: {result.model}, probe {probes}, "
            f"{len(result.layers)} layers, verdict {result.verdict}{note}."
        )
    )


@app.command("check")
def check_command(
    baselines: Annotated[
        list[Path],
        typer.Argument(help="Baseline files written by `shapetrace snapshot`.", show_default=False),
    ],
    update: Annotated[
        bool, typer.Option("--update", help="Rewrite the baselines that differ (and say which).")
    ] = False,
    unsafe_load: UnsafeLoadOption = False,
    imports: ImportOption = None,
    max_rows: Annotated[
        int,
        typer.Option(
            "--max-rows",
            help="Diff rows shown inline per baseline; the rest is in FILE.obtained.json.",
            min=1,
        ),
    ] = 40,
    output_format: FormatOption = OutputFormat.table,
    wide: WideOption = False,
    debug: DebugOption = False,
) -> None:
    """Re-run each baseline's trace and compare shapes layer by layer.

    Exit code 0 when all match, 1 when any differs (a FILE.obtained.json with the new
    trace is written beside it), 2 for an unreadable or invalid baseline.
    """
    from shapetrace.check import check_baseline
    from shapetrace.render.diff import check_report

    codes, results = [EXIT_OK], []
    layout = output_layout(wide)
    for n, path in enumerate(baselines):
        # A bad baseline is reported and the others are still checked; anything
        # unexpected goes through reporting() (internal error, exit 3).
        counter = f" ({n + 1} of {len(baselines)})" if len(baselines) > 1 else ""
        with reporting(debug), stdout_to_stderr(), work_status(f"checking {path}{counter}: ") as status:
            # TensorFlow is not imported up front: an invalid baseline must fail without it.
            status.say(
                "re-running its trace…"
                if backend_loaded()
                else importing_message() + ", then re-running its trace…",
                now=True,
            )
            try:
                result = check_baseline(
                    path, update=update, unsafe_load=unsafe_load, imports=imports, **status.trace_callbacks()
                )
            except ShapetraceError as error:
                if debug:
                    traceback.print_exc()
                message = clip_message(flag_message(error))
                print_error(escape_message(message))
                codes.append(error.exit_code)
                # The layout of CheckResult.to_dict(), whatever happened to this baseline.
                results.append(
                    {
                        "baseline": str(path),
                        "status": "error",
                        "failed": True,
                        "diff": None,
                        "obtained": None,
                        "accept_command": None,
                        "error": message,
                    }
                )
                continue
        results.append(result.to_dict())
        codes.append(EXIT_FAILED if result.failed else EXIT_OK)
        if output_format is OutputFormat.table:
            report = check_report(result, max_rows=max_rows)
            emit(check_report(result, max_rows=max_rows, layout=layout), measure=report, layout=layout)
    updated = [str(r["baseline"]) for r in results if r.get("status") == "updated"]
    if output_format is OutputFormat.json:
        typer.echo(json.dumps(results, indent=2, sort_keys=True))
    elif updated:
        stderr_console.print(
            f"Updated {len(updated)} baseline{'s' if len(updated) != 1 else ''}: {', '.join(updated)}",
            highlight=False,
        )
    code = max(codes)
    if code:
        raise typer.Exit(code)
