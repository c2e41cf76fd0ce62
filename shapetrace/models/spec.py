"""From a model spec to a built ``keras.Model``: the one way ``trace`` and ``adapt`` get a model.

A spec is a ``keras.applications`` name, a saved model file, a factory (``module:function``
or ``file.py:function``), a callable returning a model, or a built model. Everything that
needs no TensorFlow (the weights, the factory arguments, the spec itself, the probe's size)
is checked before TensorFlow is imported (issue 9).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shapetrace.errors import UsageError, WeightsError
from shapetrace.models.applications import build_application, load_weights_file
from shapetrace.models.catalog import Application, resolve_application, validate_size
from shapetrace.models.loading import (
    ModelSpec,
    import_user_code,
    load_model,
    parse_factory_args,
    parse_model_spec,
    read_saved_config,
    spec_of_callable,
    validate_weights_option,
)
from shapetrace.models.weights import weights_choice
from shapetrace.options import Pooling

if TYPE_CHECKING:
    from keras import Model

__all__ = ["BuiltModel", "model_from_spec"]


@dataclass(frozen=True)
class BuiltModel:
    """A model made from a spec, and what a trace's request records about how."""

    model: Model
    label: str | None
    """How a request names the model: the application's key, the spec as given, a callable's
    ``module:function``, or ``None`` (a model object, or a callable without one)."""
    channels: int | None
    """The probe channels: as asked, 3 for an application when none were."""
    application: Application | None = None
    """The application it was built from (``None``: the user's own model)."""
    factory_args: dict[str, Any] = field(default_factory=dict)
    """The factory's keyword arguments, parsed."""
    imports: tuple[str, ...] = ()
    """The user's code imported before the model was loaded."""


def model_from_spec(
    model: Any,
    *,
    channels: int | None = None,
    size: tuple[int, int] | None = None,
    weights: str | Path | None = None,
    native: bool = False,
    top: bool = False,
    pooling: Pooling | str | None = None,
    factory_args: Mapping[str, Any] | Sequence[str] | None = None,
    unsafe_load: bool = False,
    imports: Sequence[str] = (),
    batch: int | None = None,
    offered: tuple[str, ...] = ("native", "top", "pooling"),
) -> BuiltModel:
    """Build the application, or load the user's model, that ``model`` names.

    Args:
        model: an application name, a saved model file, a factory spec, a callable returning a
            model, or a built ``keras.Model``.
        channels: probe channels (an application is declared for them with ``native``).
        size, weights, native, top, pooling: how an application is built (as for
            :func:`shapetrace.trace`); ``weights`` may also be a weights file for the user's model.
        factory_args, unsafe_load, imports: how the user's model is loaded (as for ``trace``).
        batch: the probe's batch size: an application's probe that could not fit in memory is
            refused before the model is built (``None``: not checked).
        offered: the application-only options the caller offers, named when a user model is
            given one of them.

    Raises:
        UsageError: an option that does not apply to this kind of model, or a model that cannot
            be built or loaded.
    """
    validate_weights_option(weights)
    factory_args = parse_factory_args(factory_args)
    spec = parse_model_spec(model) if isinstance(model, str) else None
    if spec is not None and spec.kind == "application":
        if imports:
            raise UsageError(
                f"`imports` gives the code a saved model or a factory needs; {model!r} is an application name.",
                param="imports",
            )
        if factory_args:
            raise UsageError(
                f"`factory_args` applies to a factory (module:function); {model!r} is an application name.",
                param="factory_args",
            )
        app = resolve_application(model)
        channels = 3 if channels is None else channels
        built = _application(app, channels, size, weights, native, top, pooling, batch)
        return BuiltModel(built, app.key, channels, application=app)
    if native or top or pooling is not None:
        names = [f"`{name}`" for name in offered]
        raise UsageError(
            f"{', '.join(names[:-1])} and {names[-1]} build a keras.applications model; "
            f"received a user model ({model if isinstance(model, str) else type(model).__name__}).",
            param=offered,
        )
    return _user_model(model, spec, channels, weights, factory_args, unsafe_load, imports)


def _application(
    app: Application,
    channels: int,
    size: tuple[int, int] | None,
    weights: str | Path | None,
    native: bool,
    top: bool,
    pooling: Pooling | str | None,
    batch: int | None,
) -> Model:
    """``app`` built as asked, once its size and its probe are known to be sound."""
    if size is not None:
        validate_size(app, size)
    if batch is not None:
        _validate_application_probe(app, size, channels, batch)
    return build_application(
        app, size=size, channels=channels, native=native, top=top, weights=weights, pooling=pooling
    )


def _user_model(
    model: Any,
    spec: ModelSpec | None,
    channels: int | None,
    weights: str | Path | None,
    factory_args: dict[str, Any],
    unsafe_load: bool,
    imports: Sequence[str],
) -> BuiltModel:
    """The user's own model: a saved file, a factory, a callable or a model object."""
    if spec is not None and spec.kind == "file" and spec.path is not None:
        read_saved_config(spec.path)  # a bad file is refused before user code or TensorFlow runs
    user_code = import_user_code(imports)
    loaded = load_model(
        spec or model, factory_args=factory_args, unsafe_load=unsafe_load, user_code=user_code
    )
    choice = weights_choice(weights)
    if choice != "none":
        if not isinstance(choice, Path) or not choice.is_file():
            raise WeightsError(
                f"Weights file {str(weights)!r} does not exist: for your own model, `weights` takes "
                "the path of a weights file saved from it ('imagenet' applies to application names).",
                param="weights",
            )
        load_weights_file(loaded, choice)
    label = model if isinstance(model, str) else spec_of_callable(model) if callable(model) else None
    return BuiltModel(loaded, label, channels, factory_args=factory_args, imports=user_code.items)


def _validate_application_probe(
    app: Application, size: tuple[int, int] | None, channels: int, batch: int
) -> None:
    """Refuse an absurd probe before the model is built for it (the figure in one line)."""
    from shapetrace.tracing.probes import MAX_DIM, available_memory, probe_bytes, validate_probe_memory

    height, width = size if size is not None else (app.default_size, app.default_size)
    if max(height, width) > MAX_DIM:
        raise UsageError(f"Size {height}x{width} is too large: each side can be at most {MAX_DIM:,}.")
    shape = (batch, height, width, channels)
    validate_probe_memory(
        probe_bytes(shape), available_memory(), f"({batch}, {height}, {width}, {channels}) float32"
    )
