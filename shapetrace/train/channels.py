"""How one gray channel meets a network pretrained on three (``--adapt``), and the model around it.

The trained model is ``Input(H, W, C) → [gray preprocessing] → [adapter] → base → dropout → dense``.

* ``repeat``: ``Concatenate`` of the gray channel three times (works for every model).
* ``broadcast``: the gray tensor goes straight into the 3-channel base; allowed only when a trace
  of the base with 1 channel passes (EfficientNet: its per-channel ``Normalization`` broadcasts
  1 → 3, which computes exactly what ``repeat`` computes).
* ``sum-stem``: the base is built natively for 1 channel; the first convolution's kernel becomes
  the 3-channel kernel summed over its input axis (timm's ``adapt_input_conv``). Where per-channel
  preprocessing (``Normalization``, per-channel ``Rescaling``) sits between the input and that
  convolution, it is folded into the sum. This is the very code ``shapetrace adapt`` uses
  (:func:`shapetrace.adapt.stem.fold_stem`); training keeps a fold that is exact only inside the image
  (recorded as ``exact_at_borders: false``), where ``adapt`` refuses it.
* ``learned``: a trainable 1×1 ``Conv2D`` 1 → 3 initialised to ``repeat``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shapetrace.adapt.fold import front_layer
from shapetrace.adapt.stem import StemFold, find_stem, fold_stem
from shapetrace.errors import AdaptRefused, UsageError
from shapetrace.options import AdaptMethod

if TYPE_CHECKING:
    from shapetrace.models.catalog import Application
    from shapetrace.train.config import TrainConfig

__all__ = [
    "AdaptRefused",
    "Assembly",
    "GRAY_PREPROCESSING",
    "StemFold",
    "assemble",
    "build_base",
    "find_stem",
    "fold_stem",
]

# Models without preprocessing inside the graph expect ImageNet-normalised input. The gray
# versions are scalar (channel-agnostic), so they sit before the adapter and every --adapt
# sees the same numbers: "tf" is exact; "caffe"/"torch" use the mean of the three channel
# constants (the RGB differences are dropped for gray input, which keeps sum-stem exact).
_TF = (1 / 127.5, -1.0)
_CAFFE = (1.0, -(103.939 + 116.779 + 123.68) / 3)
_TORCH = (1 / (255 * 0.226), -0.449 / 0.226)
GRAY_PREPROCESSING: dict[str, tuple[float, float]] = {
    **{
        k: _TF
        for k in (
            "mobilenet",
            "mobilenetv2",
            "inceptionv3",
            "inceptionresnetv2",
            "xception",
            "nasnetmobile",
            "nasnetlarge",
            "resnet50v2",
            "resnet101v2",
            "resnet152v2",
        )
    },
    **{k: _CAFFE for k in ("resnet50", "resnet101", "resnet152", "vgg16", "vgg19")},
    **{k: _TORCH for k in ("densenet121", "densenet169", "densenet201")},
}
"""``(scale, offset)`` applied as ``x * scale + offset`` on 0–255 pixels (others preprocess inside)."""

BN_MOMENTUM_SCRATCH = 0.9
"""From scratch, Keras's 0.99 moving averages lag so far behind in a few hundred steps that
validation (inference mode) sits at chance level while training accuracy climbs."""


@dataclass(frozen=True)
class Assembly:
    """The model as it will be trained, and how its input meets the base."""

    model: Any
    base: Any
    adapt: str
    """The adaptation used (``"none"`` when the images already have 3 channels)."""
    note: str
    fold: StemFold | None = None


def build_base(app: Application, size: tuple[int, int], *, channels: int = 3, weights: str = "none") -> Any:
    """The application without its top, global-average pooled, declared for ``channels``."""
    from shapetrace.models.applications import build_application

    native = channels != 3
    return build_application(
        app,
        size=size,
        channels=channels,
        native=native,
        weights=weights,
        pooling="avg",
    )


def assemble(config: TrainConfig, app: Application, n_classes: int) -> Assembly:
    """Build the full model for the resolved ``config`` (call inside the strategy's scope)."""
    from shapetrace.tracing._keras_graph import keras, sublayers

    size, channels = config.size, config.channels
    assert isinstance(size, tuple)  # resolved
    adapt = config.adapt.value if channels == 1 else "none"
    fold = None
    if adapt == "sum-stem":
        rgb = build_base(app, size, weights=config.weights)
        base = build_base(app, size, channels=1)
        try:
            fold = fold_stem(rgb, base, channels=1)
        except UsageError as refused:  # the shared message names adapt()'s `method`; train's is `adapt`
            raise UsageError(str(refused).replace("method=", "adapt="), param="adapt") from None
        note = (
            f"sum-stem: {app.name} built for 1 channel; `{fold.stem}`'s kernel is the RGB kernel "
            f"summed over its input axis"
            + (f", with {', '.join(fold.folded)} folded in" if fold.folded else "")
        )
    else:
        base = build_base(app, size, weights=config.weights)
    if adapt == "broadcast":
        _validate_broadcast(base, app, size)
    if not config.pretrained:
        for layer in sublayers(base):
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = BN_MOMENTUM_SCRATCH

    inputs = keras.Input((size[0], size[1], channels), name="image")
    x = inputs
    if app.key in GRAY_PREPROCESSING:
        scale, offset = GRAY_PREPROCESSING[app.key]
        x = keras.layers.Rescaling(scale, offset, name="imagenet_preprocessing")(x)
    if adapt == "repeat":
        x = front_layer(AdaptMethod.repeat, 1, name="repeat_gray")(x)
        note = "repeat: a Concatenate layer in front copies the gray channel into 3"
    elif adapt == "learned":
        x = keras.layers.Conv2D(
            3, 1, name="learned_gray_to_rgb", kernel_initializer="ones", bias_initializer="zeros"
        )(x)
        note = "learned: a trainable 1×1 Conv2D maps 1 channel to 3 (starts as repeat)"
    elif adapt == "broadcast":
        note = f"broadcast: the 1-channel tensor goes straight into {app.name}, declared for 3"
    elif adapt == "none":
        note = "3-channel images: no adaptation"
    if config.pretrained:
        base.trainable = False
        features = base(x, training=False)  # BatchNorm stays in inference mode, also when fine-tuning
    else:
        features = base(x)
    x = keras.layers.Dropout(0.2, name="head_dropout")(features)
    outputs = keras.layers.Dense(n_classes, activation="softmax", name="head")(x)
    model = keras.Model(inputs, outputs, name=f"{app.key}_{adapt.replace('-', '_')}_classifier")
    return Assembly(model=model, base=base, adapt=adapt, note=note, fold=fold)


def _validate_broadcast(base: Any, app: Application, size: tuple[int, int]) -> None:
    from shapetrace.api import trace_model

    result = trace_model(base, channels=1, size=size)
    if result.ok:
        return
    where = ""
    if result.broken is not None:
        b = result.broken
        where = f" at `{b.layer}` ({b.type}: expected {b.expected}, received {b.received})"
    raise AdaptRefused(
        f"adapt=broadcast: {app.name} does not accept 1 channel{where}; use adapt=repeat "
        "(same numbers wherever broadcast works) or sum-stem.",
        result,
        param="adapt",
    )
