"""The 40 ``keras.applications`` models as data: their names, default and minimum sizes, and the
checks of a size or a channel count against them. Imports nothing that builds a model (so the
explanations can tell an application by name: :mod:`shapetrace.tracing.explain`).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from shapetrace.errors import ModelNotFoundError, UsageError

__all__ = [
    "Application",
    "APPLICATIONS",
    "MAX_CHANNELS",
    "normalize_name",
    "resolve_application",
    "parse_size",
    "validate_channels",
    "validate_size",
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
