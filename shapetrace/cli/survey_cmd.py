"""``shapetrace survey``: one probe through every keras.applications model, one row each."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from rich.progress import Progress

from shapetrace.cli.core import (
    DebugOption,
    WideOption,
    app,
    emit,
    output_layout,
    reporting,
    stderr_console,
    stdout_to_stderr,
)
from shapetrace.cli.options import BatchOption
from shapetrace.explore.survey import SurveyFormat


def _progress_bar() -> Progress:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description:<18}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("elapsed"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=stderr_console,
        transient=True,
        disable=not stderr_console.is_terminal,
    )


@app.command("survey")
def survey_command(
    channels: Annotated[
        str,
        typer.Option(
            "--channels",
            "-c",
            help="Channels of the probe tensor; several (1,3,4) survey each, one row per model and probe.",
        ),
    ] = "3",
    size: Annotated[
        str,
        typer.Option(
            "--size",
            "-s",
            help="HxW for every model, 'default' (each model's own) or 'min' (each model's minimum); several (64x64,128x128) survey each.",
        ),
    ] = "default",
    models: Annotated[
        str | None,
        typer.Option(
            "--models",
            "-m",
            help="Regular expression: survey only the matching models (e.g. 'efficientnet|mobilenet').",
            show_default=False,
        ),
    ] = None,
    native: Annotated[
        bool, typer.Option("--native", help="Build each model for --channels instead of 3.")
    ] = False,
    batch: BatchOption = 1,
    output_format: Annotated[
        SurveyFormat, typer.Option("--format", "-f", help="table for people; json or csv for scripts.")
    ] = SurveyFormat.table,
    plot: Annotated[
        str | None,
        typer.Option(
            "--plot",
            help="Also draw a one-glance chart of which models take the probe (.png or .svg).",
            show_default=False,
        ),
    ] = None,
    imports: Annotated[
        list[str] | None,
        typer.Option(
            "--import",
            help="Your own code to import before the models are built (path/to/file.py or my_package.module; repeatable), as for trace. It runs: only code you trust.",
            show_default=False,
        ),
    ] = None,
    jobs: Annotated[
        str,
        typer.Option(
            "--jobs",
            "-j",
            help="Survey with N worker processes at once (about 1 GiB of memory each), or 'auto' for the cores available.",
        ),
    ] = "1",
    wide: WideOption = False,
    debug: DebugOption = False,
) -> None:
    """Trace every keras.applications model (or --models REGEX) with one probe: does it take it as-is?

    Each model is built and traced as if it were alone. Exit code 0 whatever the
    verdicts (it is a report), 2 for bad usage.
    """
    from shapetrace.baselines.jobs import resolve_jobs
    from shapetrace.errors import UsageError
    from shapetrace.explore.survey import parse_channel_grid, parse_size_grid, survey, validate_survey_options

    with reporting(debug):
        apps = validate_survey_options(channels=channels, size=size, models=models)  # before TensorFlow loads
        workers = resolve_jobs(jobs, len(apps))
        counts = parse_channel_grid(channels)
        if plot is not None and (len(counts) > 1 or len(parse_size_grid(size)) > 1):
            raise UsageError(
                "plot draws one probe per model: give one `channels` and one `size` with it.",
                param=("plot", "channels", "size"),
            )
        if plot is not None:
            from shapetrace.extras import require
            from shapetrace.render.plot import validate_plot_path

            validate_plot_path(plot, "plot")
            require("matplotlib", extra="plot", for_="--plot")
        if imports:
            from shapetrace.models.loading import import_user_code

            import_user_code(imports)  # the user's choice, as for trace: before any model is built
        with _progress_bar() as progress, stdout_to_stderr():  # Keras's prints must not mix into JSON/CSV
            from shapetrace.cli.status import backend_loaded, importing_message

            task = progress.add_task("starting", total=None)
            if not backend_loaded() and not progress.disable:
                progress.update(task, description=importing_message())
                progress.refresh()
                from shapetrace.tracing import _keras_graph  # noqa: F401  (imports TensorFlow, muted)

            def advance(event: Any) -> None:
                progress.update(
                    task, description=event.model or "done", completed=event.done, total=event.total
                )

            result = survey(
                channels=counts,
                size=size,
                models=models,
                batch=batch,
                native=native,
                jobs=workers,
                imports=imports,
                on_progress=advance,
            )
        if plot is not None:
            from shapetrace.render.plot import plot_survey

            plot_survey(result.rows, plot, channels=counts[0])
        if output_format is SurveyFormat.json:
            typer.echo(json.dumps(result.to_dict(), indent=2))
        elif output_format is SurveyFormat.csv:
            from shapetrace.render.survey import survey_csv

            typer.echo(survey_csv(result), nl=False)
        else:
            from shapetrace.render.survey import survey_report, survey_table

            layout = output_layout(wide)
            emit(survey_report(result, layout=layout), measure=survey_table(result), layout=layout)
