"""The 40 ``keras.applications`` constructors: names, sizes, and how to build one.

Importing this module does not import TensorFlow; only :func:`build_application` does.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from shapetrace.errors import ModelNotFoundError, UsageError, WeightsError
from shapetrace.messages import one_line
from shapetrace.models.weights import weights_choice
from shapetrace.options import Pooling

if TYPE_CHECKING:
    from keras import Model

__all__ = [
    "Application",
    "APPLICATIONS",
    "resolve_application",
    "parse_size",
    "build_application",
]


def normalize_name(name: str) -> str:
    """Case-insensitive, ignoring ``-``, ``_``, spaces and dots."""
    return re.sub(r"[-_\s.]", "", name).lower()


@dataclass(frozen=True)
class Application:
    """One ``keras.applications`` constructor."""

    name: str
    """The constructor's name in ``keras.applications`` (``EfficientNetB5``)."""
    default_size: int
    """The square input side the architecture was published at."""
    min_size: int
    """The smallest side Keras accepts without a classifier top."""

    @property
    def key(self) -> str:
        return normalize_name(self.name)


def _apps(names: str, default: int, minimum: int = 32) -> list[Application]:
    return [Application(n, default, minimum) for n in names.split()]


# Sizes as each constructor passes them to imagenet_utils.obtain_input_shape
# (checked against Keras 3.15 by tests/test_applications.py, which builds each
# model at its minimum size and one pixel below it).
APPLICATIONS: dict[str, Application] = {
    app.key: app
    for app in [
        *_apps("ConvNeXtTiny ConvNeXtSmall ConvNeXtBase ConvNeXtLarge ConvNeXtXLarge", 224),
        *_apps("DenseNet121 DenseNet169 DenseNet201", 224),
        Application("EfficientNetB0", 224, 32),
        Application("EfficientNetB1", 240, 32),
        Application("EfficientNetB2", 260, 32),
        Application("EfficientNetB3", 300, 32),
        Application("EfficientNetB4", 380, 32),
        Application("EfficientNetB5", 456, 32),
        Application("EfficientNetB6", 528, 32),
        Application("EfficientNetB7", 600, 32),
        Application("EfficientNetV2B0", 224, 32),
        Application("EfficientNetV2B1", 240, 32),
        Application("EfficientNetV2B2", 260, 32),
        Application("EfficientNetV2B3", 300, 32),
        Application("EfficientNetV2S", 384, 32),
        Application("EfficientNetV2M", 480, 32),
        Application("EfficientNetV2L", 480, 32),
        Application("InceptionResNetV2", 299, 75),
        Application("InceptionV3", 299, 75),
        *_apps("MobileNet MobileNetV2 MobileNetV3Small MobileNetV3Large", 224),
        Application("NASNetMobile", 224, 32),
        Application("NASNetLarge", 331, 32),
        *_apps("ResNet50 ResNet101 ResNet152 ResNet50V2 ResNet101V2 ResNet152V2", 224),
        *_apps("VGG16 VGG19", 224),
        Application("Xception", 299, 71),
    ]
}

MAX_CHANNELS = 4096
_SIZE_RE = re.compile(r"^\s*(\d+)\s*(?:[xX×,]\s*(\d+))?\s*$")


def resolve_application(name: str) -> Application:
    """Find an application by a forgiving name (``efficientnet-b5`` → ``EfficientNetB5``).

    Raises:
        ModelNotFoundError: with the closest names when nothing matches.
    """
    key = normalize_name(name)
    if key in APPLICATIONS:
        return APPLICATIONS[key]
    close = difflib.get_close_matches(key, list(APPLICATIONS), n=3, cutoff=0.5)
    suggestions = tuple(APPLICATIONS[k].name for k in close)
    hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
    raise ModelNotFoundError(
        f"Unknown model {name!r}: expected one of the 40 keras.applications names "
        f"(see `shapetrace list`), a .keras/.h5 file or a module:function factory.{hint}",
        suggestions,
    )


def parse_size(text: str) -> tuple[int, int]:
    """``"84x112"`` → ``(84, 112)``; ``"128"`` → ``(128, 128)``."""
    match = _SIZE_RE.match(text)
    if not match:
        raise UsageError(
            f"Invalid size={text!r}: expected HxW like 224x224 or a single side like 224.", param="size"
        )
    height = int(match.group(1))
    width = int(match.group(2) or height)
    if height < 1 or width < 1:
        raise UsageError(f"Invalid size={text!r}: height and width must be at least 1.", param="size")
    return height, width


def validate_channels(channels: int, param: str = "channels") -> int:
    """``channels`` if it is a channel count; ``param`` names it in the error."""
    if isinstance(channels, bool) or not isinstance(channels, int) or not 1 <= channels <= MAX_CHANNELS:
        raise UsageError(
            f"{param}={channels!r} is not a channel count: expected a whole number from 1 to {MAX_CHANNELS}.",
            param=param,
        )
    return channels


def validate_size(app: Application, size: tuple[int, int]) -> tuple[int, int]:
    if min(size) < app.min_size:
        raise UsageError(
            f"Size {size[0]}x{size[1]} is below {app.name}'s minimum of "
            f"{app.min_size}x{app.min_size}: use size={app.min_size}x{app.min_size} or larger.",
            param="size",
        )
    return size


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
