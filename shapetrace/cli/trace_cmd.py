"""``shapetrace MODEL`` / ``shapetrace trace MODEL``."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from shapetrace.cli.core import (
    DebugOption,
    WideOption,
    app,
    emit,
    output_layout,
    reporting,
    stdout_to_stderr,
    work_status,
)
from shapetrace.errors import EXIT_FAILED
from shapetrace.options import Engine, OutputFormat, Pooling

ModelArg = Annotated[
    str,
    typer.Argument(
        help=(
            "A keras.applications name (efficientnetb5, ResNet50…; see `shapetrace list`), a saved "
            "model (model.keras, legacy.h5; loaded in Keras's safe mode), or a factory that returns a "
            "keras.Model (package.module:function or path/to/file.py:function; Python code you choose to run)."
        ),
        show_default=False,
    ),
]
ChannelsOption = Annotated[
    int | None,
    typer.Option(
        "--channels",
        "-c",
        help="Channels of the probe tensor (default 3 for an application).",
        show_default=False,
    ),
]
SizeOption = Annotated[
    str | None,
    typer.Option(
        "--size",
        "-s",
        help="Probe height x width for images, e.g. 84x112 (default: the model's default size); the length of a sequence declared with an open length, e.g. 300.",
        show_default=False,
    ),
]
WeightsOption = Annotated[
    str,
    typer.Option("--weights", "-w", help="none, imagenet (downloads), or a local weights file."),
]
PoolingOption = Annotated[
    Pooling | None,
    typer.Option("--pooling", help="Global pooling after the features.", show_default=False),
]
NativeOption = Annotated[
    bool,
    typer.Option(
        "--native",
        help="Build the model declared for --channels instead of 3 (the stem then sees N channels).",
    ),
]
TopOption = Annotated[
    bool, typer.Option("--top", help="Keep the ImageNet classifier top (needs the default size).")
]
BatchOption = Annotated[int, typer.Option("--batch", "-b", help="Probe batch size.", min=1, max=4096)]
FormatOption = Annotated[
    OutputFormat, typer.Option("--format", "-f", help="table for people, json for scripts.")
]
FactoryArgOption = Annotated[
    list[str] | None,
    typer.Option(
        "--factory-arg",
        help="key=value passed to a factory MODEL (repeatable; values read as Python literals when they are one).",
        show_default=False,
    ),
]
InputOption = Annotated[
    list[str] | None,
    typer.Option(
        "--input",
        help="SHAPE without the batch axis, any rank (32x32x3, 120x7, 200) for a single-input model; NAME=SHAPE for one of several inputs (repeatable). A model never built takes its probe from here.",
        show_default=False,
    ),
]
UnsafeLoadOption = Annotated[
    bool,
    typer.Option(
        "--unsafe-load",
        help="Let a saved model file run the code it carries (Lambda layers, custom classes). Only for files you trust.",
    ),
]
ImportOption = Annotated[
    list[str] | None,
    typer.Option(
        "--import",
        help=(
            "Your own code to import first (path/to/layers.py or my_package.layers; repeatable): its "
            "classes and functions resolve a saved model's custom layers. It runs: only code you trust. "
            "A Lambda still needs --unsafe-load."
        ),
        show_default=False,
    ),
]


def trace_options(
    *, size, batch, weights, pooling, native, top, engine, factory_arg, input_shape, unsafe_load, imports=None
) -> dict:
    """The library's trace keywords (all but ``channels``) from the options trace and snapshot share."""
    return dict(
        size=size,
        batch=batch,
        native=native,
        top=top,
        pooling=pooling,
        engine=engine,
        # "" is passed on (and refused there), never read as "no weights"
        weights=None if weights.strip().lower() == "none" else weights,
        factory_args=factory_arg,
        inputs=input_shape,
        unsafe_load=unsafe_load,
        imports=imports,
    )


def _complete_model(incomplete: str) -> list[str]:
    from shapetrace.applications import APPLICATIONS, normalize_name

    key = normalize_name(incomplete)
    return [k for k in APPLICATIONS if k.startswith(key)]


@app.command("trace")
def trace_command(
    model: Annotated[
        str,
        typer.Argument(
            help=ModelArg.__metadata__[0].help, show_default=False, autocompletion=_complete_model
        ),
    ],
    channels: ChannelsOption = None,
    size: SizeOption = None,
    batch: BatchOption = 1,
    weights: WeightsOption = "none",
    pooling: PoolingOption = None,
    native: NativeOption = False,
    top: TopOption = False,
    changes_only: Annotated[
        bool,
        typer.Option("--changes-only", help="Only rows where something changed (plus the first and last)."),
    ] = False,
    engine: Annotated[
        Engine,
        typer.Option(
            "--engine",
            help="stream: one walk, tensors freed early; submodels: one multi-output sub-model (an independent check).",
        ),
    ] = Engine.stream,
    output_format: FormatOption = OutputFormat.table,
    compare: Annotated[
        int | None,
        typer.Option(
            "--compare",
            help="Also trace a probe with this many channels and show where the two probes' shapes become the same.",
            show_default=False,
        ),
    ] = None,
    columns: Annotated[
        str | None,
        typer.Option(
            "--columns",
            help="Comma-separated columns: index, layer, type, inputs, declared, static, actual, ch, params, trainable, non_trainable, macs, memory, why (or all, default).",
            show_default=False,
        ),
    ] = None,
    depth: Annotated[
        int | None,
        typer.Option(
            "--depth",
            help="Collapse nested models below this depth into one row each, costs summed (0: top-level layers only).",
            show_default=False,
        ),
    ] = None,
    layers: Annotated[
        str | None,
        typer.Option(
            "--layers",
            help="Keep only layers whose path matches this regular expression, or a FROM..TO range of layer names.",
            show_default=False,
        ),
    ] = None,
    svg: Annotated[
        str | None,
        typer.Option("--svg", help="Also save the report exactly as rendered, as SVG.", show_default=False),
    ] = None,
    html: Annotated[
        str | None,
        typer.Option("--html", help="Also save the report exactly as rendered, as HTML.", show_default=False),
    ] = None,
    plot: Annotated[
        str | None,
        typer.Option(
            "--plot",
            help="Also draw channels (log) and spatial size along the layers (.png or .svg).",
            show_default=False,
        ),
    ] = None,
    factory_arg: FactoryArgOption = None,
    input_shape: InputOption = None,
    unsafe_load: UnsafeLoadOption = False,
    imports: ImportOption = None,
    wide: WideOption = False,
    debug: DebugOption = False,
) -> None:
    """Feed a real probe tensor through MODEL and show every layer's actual shapes.

    Exit code 0 when the probe passes, 1 when it breaks (or the model's input check
    rejects it), 2 for bad usage or input.
    """
    from shapetrace.api import trace

    with reporting(debug):
        view = _validate_view_options(channels, compare, columns, depth, layers, svg, html, plot)
    options = trace_options(
        size=size,
        batch=batch,
        weights=weights,
        pooling=pooling,
        native=native,
        top=top,
        engine=engine,
        factory_arg=factory_arg,
        input_shape=input_shape,
        unsafe_load=unsafe_load,
        imports=imports,
    )
    if compare is not None:
        return _compare_command(
            model, channels, compare, options, output_format, svg, html, plot, wide, debug
        )
    # The status line goes (innermost context) before an error or the table is printed.
    with reporting(debug), stdout_to_stderr(), work_status() as status:
        status.making(model)
        result = trace(model, channels=channels, **options, **status.trace_callbacks())
    with reporting(debug):
        from shapetrace.render.table import trace_report, trace_table

        # Pictures record the full report, whatever the terminal's width.
        report = trace_report(result, changes_only=changes_only, view=view)
        table = trace_table(result, changes_only=changes_only, view=view)
        _save_pictures(report, table, svg, html, plot, lambda path: _plot_trace(result, path), result.model)
        if output_format is OutputFormat.json:
            typer.echo(json.dumps(view.trace_dict(result), indent=2))
        else:
            layout = output_layout(wide)
            emit(
                trace_report(result, changes_only=changes_only, view=view, layout=layout),
                measure=table,
                layout=layout,
            )
    if not result.ok:
        raise typer.Exit(EXIT_FAILED)


def _validate_view_options(channels, compare, columns, depth, layers, svg, html, plot):
    """Every option checked before a model is built: bad input costs nothing and writes nothing."""
    from shapetrace.cli.export import validate_export_paths
    from shapetrace.compare import validate_compare
    from shapetrace.errors import UsageError
    from shapetrace.selection import View

    view = View.parse(columns=columns, depth=depth, layers=layers)
    if compare is not None:
        validate_compare(channels, compare)
        if not view.is_default:
            raise UsageError(
                "--columns, --depth and --layers shape the single-probe table; drop them with --compare."
            )
    validate_export_paths(svg, html)
    if plot is not None:
        from shapetrace.plot import validate_plot_path

        validate_plot_path(plot)
    return view


def _plot_trace(result, path: str) -> None:
    from shapetrace.plot import plot_trace

    plot_trace(result, path)


def _save_pictures(report, table, svg, html, plot, draw, title: str) -> None:
    from shapetrace.cli.export import export_rendered

    export_rendered(report, table, svg=svg, html=html, title=f"shapetrace · {title}")
    if plot is not None:
        draw(plot)


def _compare_command(model, channels, other, options, output_format, svg, html, plot, wide, debug) -> None:
    """``--compare N``: both probes, aligned; the exit code follows the first (``--channels``) probe."""
    from shapetrace.compare import compare_channels

    with reporting(debug), stdout_to_stderr(), work_status() as status:
        status.making(model)
        first = "the first probe" if channels is None else f"{channels}-channel probe"
        progress = status.trace_callbacks(walks=(first, f"{other}-channel probe"))
        comparison = compare_channels(model, channels=channels, other=other, **options, **progress)
    with reporting(debug):
        from shapetrace.plot import plot_compare
        from shapetrace.render.compare import compare_report, compare_table

        report, table = compare_report(comparison), compare_table(comparison)
        _save_pictures(
            report, table, svg, html, plot, lambda path: plot_compare(comparison, path), comparison.model
        )
        if output_format is OutputFormat.json:
            typer.echo(json.dumps(comparison.to_dict(), indent=2))
        else:
            layout = output_layout(wide)
            emit(compare_report(comparison, layout=layout), measure=table, layout=layout)
    if not comparison.first.ok:
        raise typer.Exit(EXIT_FAILED)


@app.command("list")
def list_command(
    output_format: FormatOption = OutputFormat.table,
) -> None:
    """List the 40 keras.applications models with their default and minimum input sizes."""
    from shapetrace.applications import APPLICATIONS

    apps = list(APPLICATIONS.values())
    if output_format is OutputFormat.json:
        typer.echo(
            json.dumps(
                [
                    {"model": a.name, "name": a.key, "default_size": a.default_size, "min_size": a.min_size}
                    for a in apps
                ],
                indent=2,
            )
        )
        return
    from shapetrace.render.table import applications_table

    table = applications_table(apps)
    emit(table, measure=table, layout=output_layout())
