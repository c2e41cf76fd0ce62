"""``shapetrace adapt MODEL --channels N -o OUT.keras``."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from shapetrace.cli.core import DebugOption, app, emit, reporting, stdout_to_stderr
from shapetrace.cli.options import (
    FactoryArgOption,
    FormatOption,
    ModelArg,
    PoolingOption,
    SizeOption,
    TopOption,
    UnsafeLoadOption,
    WeightsOption,
)
from shapetrace.options import AdaptMethod, OutputFormat


@app.command("adapt")
def adapt_command(
    model: ModelArg,
    channels: Annotated[
        int,
        typer.Option(
            "--channels", "-c", help="Channels the adapted model is declared for (not 3).", show_default=False
        ),
    ],
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            help="The .keras file to write (written atomically, only after the checks pass).",
            show_default=False,
        ),
    ],
    method: Annotated[
        AdaptMethod | None,
        typer.Option(
            "--method",
            help="sum-stem (fold into the first conv; the default where exact), repeat (N<3: copy channels in front) or mean (N>3: average in front).",
            show_default=False,
        ),
    ] = None,
    size: SizeOption = None,
    weights: WeightsOption = "none",
    pooling: PoolingOption = None,
    top: TopOption = False,
    output_format: FormatOption = OutputFormat.table,
    factory_arg: FactoryArgOption = None,
    unsafe_load: UnsafeLoadOption = False,
    debug: DebugOption = False,
) -> None:
    """Write MODEL declared for N input channels, its (pretrained) weights folded in.

    The adapted model is checked before anything is written: on a random N-channel probe it
    must equal the original on the 3-channel probe the method maps it to (exit 1 otherwise),
    and its trace is printed. Exit 2 for bad usage or a method that does not apply.
    """
    from shapetrace.adapt.fold import adapt, save_adapted, validate_output_path

    with reporting(debug):
        validate_output_path(output)
    with reporting(debug), stdout_to_stderr():
        adapted = adapt(
            model,
            channels=channels,
            method=method,
            size=size,
            weights=weights,
            top=top,
            pooling=pooling,
            factory_args=factory_arg,
            unsafe_load=unsafe_load,
        )
        report = save_adapted(adapted, output)
    with reporting(debug):
        if output_format is OutputFormat.json:
            typer.echo(json.dumps(report.to_dict(), indent=2))
        else:
            from shapetrace.render.adapt import adapt_report

            rendered = adapt_report(report)
            emit(rendered, measure=rendered)
