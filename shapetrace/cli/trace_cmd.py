"""``shapetrace MODEL`` / ``shapetrace trace MODEL``."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from shapetrace.cli.core import DebugOption, app, emit, reporting
from shapetrace.errors import EXIT_FAILED
from shapetrace.options import Engine, OutputFormat, Pooling

ModelArg = Annotated[
    str,
    typer.Argument(
        help="A keras.applications name (efficientnetb5, ResNet50, convnext-tiny…; see `shapetrace list`).",
        show_default=False,
    ),
]
ChannelsOption = Annotated[
    Optional[int],
    typer.Option("--channels", "-c", help="Channels of the probe tensor (default 3 for an application).", show_default=False),
]
SizeOption = Annotated[
    Optional[str],
    typer.Option("--size", "-s", help="Probe height x width, e.g. 84x112 (default: the model's default size).", show_default=False),
]
WeightsOption = Annotated[
    str,
    typer.Option("--weights", "-w", help="none, imagenet (downloads), or a local weights file."),
]
PoolingOption = Annotated[
    Optional[Pooling],
    typer.Option("--pooling", help="Global pooling after the features.", show_default=False),
]
NativeOption = Annotated[
    bool,
    typer.Option("--native", help="Build the model declared for --channels instead of 3 (the stem then sees N channels)."),
]
TopOption = Annotated[bool, typer.Option("--top", help="Keep the ImageNet classifier top (needs the default size).")]
BatchOption = Annotated[int, typer.Option("--batch", "-b", help="Probe batch size.", min=1, max=4096)]
FormatOption = Annotated[OutputFormat, typer.Option("--format", "-f", help="table for people, json for scripts.")]


def _complete_model(incomplete: str) -> list[str]:
    from shapetrace.applications import APPLICATIONS, normalize_name

    key = normalize_name(incomplete)
    return [k for k in APPLICATIONS if k.startswith(key)]


@app.command("trace")
def trace_command(
    model: Annotated[str, typer.Argument(help=ModelArg.__metadata__[0].help, show_default=False, autocompletion=_complete_model)],
    channels: ChannelsOption = None,
    size: SizeOption = None,
    batch: BatchOption = 1,
    weights: WeightsOption = "none",
    pooling: PoolingOption = None,
    native: NativeOption = False,
    top: TopOption = False,
    changes_only: Annotated[bool, typer.Option("--changes-only", help="Only rows where something changed (plus the first and last).")] = False,
    engine: Annotated[Engine, typer.Option("--engine", help="stream: one walk, tensors freed early; submodels: one multi-output sub-model (an independent check).")] = Engine.stream,
    output_format: FormatOption = OutputFormat.table,
    debug: DebugOption = False,
) -> None:
    """Feed a real probe tensor through MODEL and show every layer's actual shapes.

    Exit code 0 when the probe passes, 1 when it breaks (or the model's input check
    rejects it), 2 for bad usage or input.
    """
    from shapetrace.api import trace

    with reporting(debug):
        result = trace(
            model,
            channels=channels,
            size=size,
            batch=batch,
            native=native,
            top=top,
            weights=None if weights.lower() == "none" else weights,
            pooling=pooling,
            engine=engine,
        )
        if output_format is OutputFormat.json:
            typer.echo(json.dumps(result.to_dict(), indent=2))
        else:
            from shapetrace.render.table import trace_report, trace_table

            emit(trace_report(result, changes_only=changes_only), measure=trace_table(result, changes_only=changes_only))
    if not result.ok:
        raise typer.Exit(EXIT_FAILED)


@app.command("list")
def list_command(
    output_format: FormatOption = OutputFormat.table,
) -> None:
    """List the 40 keras.applications models with their default and minimum input sizes."""
    from shapetrace.applications import APPLICATIONS

    apps = list(APPLICATIONS.values())
    if output_format is OutputFormat.json:
        typer.echo(json.dumps(
            [{"model": a.name, "name": a.key, "default_size": a.default_size, "min_size": a.min_size} for a in apps],
            indent=2,
        ))
        return
    from shapetrace.render.table import applications_table

    table = applications_table(apps)
    emit(table, measure=table)
