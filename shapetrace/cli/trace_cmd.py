"""``shapetrace MODEL`` / ``shapetrace trace MODEL``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

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
from shapetrace.cli.options import ChannelsOption, FormatOption, ModelArg, trace_options
from shapetrace.errors import EXIT_FAILED
from shapetrace.options import OutputFormat, TraceOptions

if TYPE_CHECKING:
    from rich.console import RenderableType

    from shapetrace.records import Trace
    from shapetrace.tracing.selection import View


def _complete_model(incomplete: str) -> list[str]:
    from shapetrace.models.catalog import APPLICATIONS, normalize_name

    key = normalize_name(incomplete)
    return [k for k in APPLICATIONS if k.startswith(key)]


@app.command("trace")
@trace_options
def trace_command(
    model: Annotated[
        str,
        typer.Argument(
            help=ModelArg.__metadata__[0].help, show_default=False, autocompletion=_complete_model
        ),
    ],
    channels: ChannelsOption = None,
    options: TraceOptions = TraceOptions(),
    changes_only: Annotated[
        bool,
        typer.Option(
            "--changes-only",
            help="Only rows where something changed (plus the first and last), in the table and in JSON.",
        ),
    ] = False,
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
    wide: WideOption = False,
    debug: DebugOption = False,
) -> None:
    """Feed a real probe tensor through MODEL and show every layer's actual shapes.

    Exit code 0 when the probe passes, 1 when it breaks (or the model's input check
    rejects it), 2 for bad usage or input.
    """
    from shapetrace.api import trace

    with reporting(debug):
        view = _validate_view_options(
            channels, compare, columns, depth, layers, changes_only, svg, html, plot
        )
    if compare is not None:
        return _compare_command(
            model, channels, compare, options, output_format, svg, html, plot, wide, debug
        )
    # The status line goes (innermost context) before an error or the table is printed.
    with reporting(debug), stdout_to_stderr(), work_status() as status:
        status.making(model)
        result = trace(model, channels=channels, options=options, **status.trace_callbacks())
    with reporting(debug):
        from shapetrace.render.table import trace_report, trace_table

        # Pictures record the full report, whatever the terminal's width.
        report = trace_report(result, view=view)
        table = trace_table(result, view=view)
        _save_pictures(report, table, svg, html, plot, lambda path: _plot_trace(result, path), result.model)
        if output_format is OutputFormat.json:
            typer.echo(json.dumps(view.trace_dict(result), indent=2))
        else:
            layout = output_layout(wide)
            emit(
                trace_report(result, view=view, layout=layout),
                measure=table,
                layout=layout,
            )
    if not result.ok:
        raise typer.Exit(EXIT_FAILED)


def _validate_view_options(
    channels: int | None,
    compare: int | None,
    columns: str | None,
    depth: int | None,
    layers: str | None,
    changes_only: bool,
    svg: str | None,
    html: str | None,
    plot: str | None,
) -> View:
    """Every option checked before a model is built: bad input costs nothing and writes nothing."""
    from shapetrace.cli.export import validate_export_paths
    from shapetrace.errors import UsageError
    from shapetrace.explore.compare import validate_compare
    from shapetrace.tracing.selection import View

    view = View.parse(columns=columns, depth=depth, layers=layers, changes_only=changes_only)
    if compare is not None:
        validate_compare(channels, compare)
        if not view.is_default or view.changes_only:
            raise UsageError(
                "--columns, --depth, --layers and --changes-only shape the single-probe table; "
                "drop them with --compare."
            )
    validate_export_paths(svg, html)
    if plot is not None:
        from shapetrace.extras import require
        from shapetrace.render.plot import validate_plot_path

        validate_plot_path(plot, "plot")
        require("matplotlib", extra="plot", for_="--plot")
    return view


def _plot_trace(result: Trace, path: str) -> None:
    from shapetrace.render.plot import plot_trace

    plot_trace(result, path)


def _save_pictures(
    report: RenderableType,
    table: RenderableType,
    svg: str | None,
    html: str | None,
    plot: str | None,
    draw: Callable[[str], Any],
    title: str,
) -> None:
    from shapetrace.cli.export import export_rendered

    export_rendered(report, table, svg=svg, html=html, title=f"shapetrace · {title}")
    if plot is not None:
        draw(plot)


def _compare_command(
    model: str,
    channels: int | None,
    other: int,
    options: TraceOptions,
    output_format: OutputFormat,
    svg: str | None,
    html: str | None,
    plot: str | None,
    wide: bool,
    debug: bool,
) -> None:
    """``--compare N``: both probes, aligned; the exit code follows the first (``--channels``) probe."""
    from shapetrace.explore.compare import compare_channels

    with reporting(debug), stdout_to_stderr(), work_status() as status:
        status.making(model)
        first = "the first probe" if channels is None else f"{channels}-channel probe"
        progress = status.trace_callbacks(walks=(first, f"{other}-channel probe"))
        comparison = compare_channels(model, channels=channels, other=other, options=options, **progress)
    with reporting(debug):
        from shapetrace.render.compare import compare_report, compare_table
        from shapetrace.render.plot import plot_compare

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
    from shapetrace.models.catalog import APPLICATIONS

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
