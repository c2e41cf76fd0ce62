"""Building one of the 40 ``keras.applications`` models (:mod:`shapetrace.models.catalog` holds
their names and sizes), and loading a weights file into a model.

Importing this module does not import TensorFlow; only :func:`build_application` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from shapetrace.errors import UsageError, WeightsError
from shapetrace.messages import one_line
from shapetrace.models.catalog import Application, validate_size
from shapetrace.models.weights import weights_choice
from shapetrace.options import Pooling

if TYPE_CHECKING:
    from keras import Model

__all__ = ["build_application", "load_weights_file"]


def build_application(
    app: Application,
    *,
    size: tuple[int, int] | None = None,
    channels: int = 3,
    native: bool = False,
    top: bool = False,
    weights: str | Path | None = None,
    pooling: Pooling | str | None = None,
) -> Model:
    """Build ``app`` the way the story did: declared input (H, W, 3), no top.

    Args:
        size: input height and width; the model's default size when ``None``.
        channels: probe channels; only used for the declared input with ``native``.
        native: declare the input with ``channels`` instead of 3.
        top: keep the ImageNet classifier (then the size must be the default one).
        weights: ``None``, ``"imagenet"`` (downloads) or a local weights file.
        pooling: ``avg`` or ``max`` global pooling (without ``top``).

    Returns:
        A built ``keras.Model``.
    """
    from shapetrace.tracing import _keras_graph  # imports keras (and TensorFlow)

    keras = _keras_graph.keras
    size = validate_size(app, size or (app.default_size, app.default_size))
    declared_channels = channels if native else 3
    weights_arg, local_file = _resolve_weights(weights, app, native, declared_channels)
    constructor = getattr(keras.applications, app.name)
    kwargs = dict(
        include_top=top,
        weights=weights_arg,
        input_shape=(size[0], size[1], declared_channels),
        pooling=None if pooling is None else Pooling(pooling).value,
    )
    if top and size != (app.default_size, app.default_size):
        raise UsageError(
            f"top=True keeps {app.name}'s ImageNet classifier, which needs the default size "
            f"{app.default_size}x{app.default_size}; received {size[0]}x{size[1]}.",
            param="top",
        )
    _keras_graph.reset_naming()
    from shapetrace.tracing.jax_trace import fast_initializers

    try:
        with fast_initializers():  # on JAX: no XLA compile per kernel shape
            model = constructor(**kwargs)
    except ValueError as error:
        raise UsageError(f"Keras refused to build {app.name}: {one_line(error)}") from error
    except Exception as error:  # download failures surface as many exception types
        if weights_arg == "imagenet":
            raise WeightsError(
                f"Could not download the ImageNet weights for {app.name} ({one_line(error)}); "
                "without network access pass a local file: weights=path/to/weights.h5",
                param="weights",
            ) from error
        raise
    if local_file is not None:
        load_weights_file(model, local_file)
    return model


def load_weights_file(model: Model, path: Path) -> None:
    """Load a local weights file into ``model``, explaining a mismatch in one line.

    Keras warns once per layer it cannot match (``Skipping nested container``…), dozens
    of lines before its error: those are captured and the error alone is reported.
    """
    import warnings

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.load_weights(str(path))
    except Exception as error:
        raise WeightsError(
            f"The weights file {str(path)!r} does not match {model.name} as built "
            f"({one_line(error)}): it must come from the same architecture, size options and "
            "channel count."
        ) from error
    if caught:  # loaded, but not everything matched: one line, not one per layer
        first = str(caught[0].message).strip().splitlines()
        more = f" (and {len(caught) - 1} more)" if len(caught) > 1 else ""
        warnings.warn(
            f"loading {str(path)!r}: {first[0] if first else caught[0].category.__name__}{more}", stacklevel=2
        )


def _resolve_weights(
    weights: str | Path | None, app: Application, native: bool, channels: int
) -> tuple[str | None, Path | None]:
    choice = weights_choice(weights)
    if choice == "none":
        return None, None
    if choice == "imagenet":
        if native and channels != 3:
            raise WeightsError(
                f"Keras's ImageNet weights for {app.name} expect 3 input channels, so "
                f"native=True with channels={channels} cannot load them (Keras refuses): "
                "drop native=True to probe the 3-channel model, or use weights=none.",
                param=("native", "channels", "weights"),
            )
        return "imagenet", None
    if not choice.is_file():
        raise WeightsError(
            f"Weights file {str(choice)!r} does not exist: expected 'none', 'imagenet' or the "
            "path of a .weights.h5 / .h5 file."
        )
    return None, choice
