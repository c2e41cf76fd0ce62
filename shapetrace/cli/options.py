"""The options several commands share, declared once, and the one place the CLI builds a ``TraceOptions``.

A command that traces a model declares ``options: TraceOptions`` and is decorated with
:func:`trace_options`: the decorator puts the shared ``--size``, ``--batch``, … options into the
command's signature at that place (typer reads the signature) and hands the command one
:class:`~shapetrace.options.TraceOptions` built from them. The option list is written here only.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from shapetrace.options import Engine, OutputFormat, Pooling, TraceOptions

__all__ = [
    "ModelArg",
    "ChannelsOption",
    "SizeOption",
    "BatchOption",
    "WeightsOption",
    "PoolingOption",
    "NativeOption",
    "TopOption",
    "EngineOption",
    "FormatOption",
    "FactoryArgOption",
    "InputOption",
    "UnsafeLoadOption",
    "ImportOption",
    "trace_options",
    "build_trace_options",
]

ModelArg = Annotated[
    str,
    typer.Argument(
        help=(
            "A keras.applications name (efficientnetb5, ResNet50; see `shapetrace list`), a saved "
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
    typer.Option(
        "--pooling", help="Global pooling after the features: avg or max (default: none).", show_default=False
    ),
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
EngineOption = Annotated[
    Engine,
    typer.Option(
        "--engine",
        help=(
            "stream: one walk, tensors freed early; submodels: one multi-output sub-model (an "
            "independent check). A snapshot records it for check to re-run."
        ),
    ),
]
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


def build_trace_options(
    *,
    size: str | None = None,
    batch: int = 1,
    weights: str = "none",
    pooling: Pooling | None = None,
    native: bool = False,
    top: bool = False,
    engine: Engine = Engine.stream,
    factory_arg: list[str] | None = None,
    input_shape: list[str] | None = None,
    unsafe_load: bool = False,
    imports: list[str] | None = None,
) -> TraceOptions:
    """The library's :class:`TraceOptions` from the shared options' values (as typer parses them)."""
    return TraceOptions(
        size=size,
        batch=batch,
        # "" is passed on (and refused there), never read as "no weights"
        weights=None if weights.strip().lower() == "none" else weights,
        pooling=pooling,
        native=native,
        top=top,
        engine=engine,
        factory_args=factory_arg,
        inputs=input_shape,
        unsafe_load=unsafe_load,
        imports=tuple(imports or ()),
    )


# The shared options in --help order: (parameter name, declaration, default). The names are
# build_trace_options's keywords.
_SHARED: tuple[tuple[str, Any, Any], ...] = (
    ("size", SizeOption, None),
    ("batch", BatchOption, 1),
    ("weights", WeightsOption, "none"),
    ("pooling", PoolingOption, None),
    ("native", NativeOption, False),
    ("top", TopOption, False),
    ("engine", EngineOption, Engine.stream),
    ("factory_arg", FactoryArgOption, None),
    ("input_shape", InputOption, None),
    ("unsafe_load", UnsafeLoadOption, False),
    ("imports", ImportOption, None),
)

Command = TypeVar("Command", bound=Callable[..., Any])


def trace_options(command: Command) -> Command:
    """Give a typer command the shared trace options in place of its ``options`` parameter.

    The command is called with ``options=TraceOptions(...)``; its other parameters are untouched.
    """
    signature = inspect.signature(command, eval_str=True)
    own = list(signature.parameters.values())
    at = [p.name for p in own].index("options")  # the decorated command must declare it
    shared = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=kind, default=default)
        for name, kind, default in _SHARED
    ]
    parameters = [
        p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in [*own[:at], *shared, *own[at + 1 :]]
    ]

    def run(**values: Any) -> Any:
        chosen = {name: values.pop(name) for name, _, _ in _SHARED}
        return command(**values, options=build_trace_options(**chosen))

    run.__name__, run.__qualname__, run.__doc__ = command.__name__, command.__qualname__, command.__doc__
    run.__module__ = command.__module__
    run.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in parameters}
    return run  # type: ignore[return-value]
