"""``shapetrace snapshot MODEL -o FILE`` and ``shapetrace check BASELINE…``."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shapetrace.cli.core import (
    DebugOption,
    WideOption,
    app,
    clip_message,
    emit,
    escape_message,
    fail,
    flag_message,
    install_warning_format,
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
from shapetrace.cli.status import WorkStatus, backend_loaded, importing_message
from shapetrace.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, ShapetraceError
from shapetrace.messages import visible
from shapetrace.options import Layout, OutputFormat, TraceOptions

if TYPE_CHECKING:
    from shapetrace.baselines.jobs import Outcome


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
    from shapetrace.baselines.baseline import snapshot

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
    jobs: Annotated[
        str,
        typer.Option(
            "--jobs",
            "-j",
            help="Check with N worker processes at once (about 1 GiB of memory each), or 'auto' for the cores available.",
        ),
    ] = "1",
    shard: Annotated[
        str | None,
        typer.Option(
            "--shard",
            help="Check only shard K of N (e.g. 2/4): a stable split by path, for a CI matrix of N jobs.",
            show_default=False,
        ),
    ] = None,
    output_format: FormatOption = OutputFormat.table,
    wide: WideOption = False,
    debug: DebugOption = False,
) -> None:
    """Re-run each baseline's trace and compare shapes layer by layer.

    Exit code 0 when all match, 1 when any differs (a FILE.obtained.json with the new
    trace is written beside it) or cannot be re-run, 2 for an unreadable or invalid
    baseline, 3 for an internal error. Each baseline's result is reported, whatever
    happened to the others.
    """
    from shapetrace.baselines.jobs import check_all

    baselines = _without_obtained(baselines)
    chosen, workers = _choose(baselines, shard, jobs, debug)
    layout = output_layout(wide)
    progress = _CheckProgress(total=len(chosen), workers=workers)
    outcomes = check_all(
        chosen,
        jobs=workers,
        update=update,
        unsafe_load=unsafe_load,
        imports=imports,
        on_start=progress.started,
        trace_callbacks=progress.trace_callbacks(),
        child_setup=install_warning_format,
    )
    try:
        codes, results = _report_outcomes(
            outcomes, progress, output_format=output_format, max_rows=max_rows, layout=layout, debug=debug
        )
    except KeyboardInterrupt:
        outcomes.close()  # ends the children
        fail("interrupted.", EXIT_INTERRUPTED)
    _sum_up(results, output_format)
    code = max(codes)
    if code:
        raise typer.Exit(code)


def _without_obtained(baselines: list[Path]) -> list[Path]:
    """The baselines given, less the ``.obtained.json`` files a glob caught (said on stderr)."""
    # A glob like tests/shapes/*.json also matches what an earlier failing run left beside
    # the baselines: a NAME.obtained.json is that run's output, not a baseline to check.
    obtained = [path for path in baselines if path.name.endswith(".obtained.json")]
    if not obtained or len(obtained) == len(baselines):
        return baselines
    stderr_console.print(
        f"Skipped {len(obtained)} .obtained.json file{'s' if len(obtained) != 1 else ''} "
        f"(new traces of an earlier run, not baselines): {', '.join(map(str, obtained))}",
        highlight=False,
        markup=False,
    )
    return [path for path in baselines if path not in obtained]


def _choose(baselines: list[Path], shard: str | None, jobs: str, debug: bool) -> tuple[list[Path], int]:
    """The baselines this run checks (its ``--shard`` of them) and the worker processes for them."""
    from shapetrace.baselines.jobs import parse_shard, resolve_jobs, select_shard

    with reporting(debug):
        chosen = list(baselines)
        if shard is not None:
            chosen = select_shard(chosen, parse_shard(shard))
        workers = resolve_jobs(jobs, len(chosen))
    if shard is not None and not chosen:
        stderr_console.print(
            f"Shard {shard.strip()} holds none of the {len(baselines)} baselines given.",
            highlight=False,
            markup=False,
        )
    return chosen, workers


class _CheckProgress:
    """The status line of a check run: one while waiting for each outcome, erased before it prints."""

    def __init__(self, *, total: int, workers: int) -> None:
        self.total = total
        self.workers = workers
        self.done = 0
        self.current: list[WorkStatus] = []

    def next_outcome(self, outcomes: Iterator[Outcome]) -> Outcome | None:
        """The next outcome (``None`` once there are no more), waited for under a fresh status line."""
        with work_status() as status, stdout_to_stderr():
            self.current[:] = [status]
            if self.workers > 1 and self.done:
                status.say(
                    f"checking {self.total} baselines with {self.workers} processes: {self.done} done…"
                )
            outcome = next(outcomes, None)
        if outcome is not None:
            self.done += 1
        return outcome

    def started(self, path: Path, child: bool) -> None:
        status = self.current[-1]
        if self.workers > 1:
            status.say(
                f"checking {self.total} baselines with {self.workers} processes: {self.done} done…", now=True
            )
            return
        counter = f" ({self.done + 1} of {self.total})" if self.total > 1 else ""
        status.prefix = f"checking {path}{counter}: "
        if child or not backend_loaded():
            # A child imports TensorFlow afresh; here it loads only when needed (an invalid
            # baseline fails without it).
            status.say(importing_message() + ", then re-running its trace…", now=True)
        else:
            status.say("re-running its trace…", now=True)

    def trace_callbacks(self) -> dict[str, Any]:
        """The layer-by-layer progress of a re-run in this process, on a terminal only."""
        if not stderr_console.is_terminal:
            return {}
        return {
            "on_walk_start": lambda total: self.current[-1].walk_start(total),
            "on_layer": lambda n: self.current[-1].layer_done(n),
        }


def _report_outcomes(
    outcomes: Iterator[Outcome],
    progress: _CheckProgress,
    *,
    output_format: OutputFormat,
    max_rows: int,
    layout: Layout,
    debug: bool,
) -> tuple[list[int], list[dict[str, Any]]]:
    """Each baseline's outcome as it comes (its table, or its error on stderr): the exit codes and
    the JSON results."""
    from shapetrace.baselines.jobs import CheckError
    from shapetrace.render.diff import check_report

    codes, results = [EXIT_OK], []
    while (outcome := progress.next_outcome(outcomes)) is not None:
        if isinstance(outcome, CheckError):
            if debug and outcome.details:
                stderr_console.print(outcome.details, markup=False, highlight=False)
            message = clip_message(flag_message(ShapetraceError(outcome.message, param=outcome.params)))
            print_error(escape_message(message))
            codes.append(outcome.exit_code)
            results.append({**outcome.to_dict(), "error": message})
            continue
        results.append(outcome.to_dict())
        codes.append(EXIT_FAILED if outcome.failed else EXIT_OK)
        if output_format is OutputFormat.table:
            report = check_report(outcome, max_rows=max_rows)
            emit(check_report(outcome, max_rows=max_rows, layout=layout), measure=report, layout=layout)
    return codes, results


def _sum_up(results: list[dict[str, Any]], output_format: OutputFormat) -> None:
    """The JSON results, or after the tables the line naming the baselines ``--update`` rewrote."""
    updated = [str(r["baseline"]) for r in results if r.get("status") == "updated"]
    if output_format is OutputFormat.json:
        typer.echo(json.dumps(results, indent=2, sort_keys=True))
    elif updated:
        sys.stdout.flush()  # the tables first, then the line that sums them up, also on one terminal
        stderr_console.print(
            f"Updated {len(updated)} baseline{'s' if len(updated) != 1 else ''}: {', '.join(updated)}",
            highlight=False,
        )
