"""How one gray channel meets a network pretrained on three (``--adapt``), and the model around it.

The trained model is ``Input(H, W, C) → [gray preprocessing] → [adapter] → base → dropout → dense``.

* ``repeat``: ``Concatenate`` of the gray channel three times (works for every model).
* ``broadcast``: the gray tensor goes straight into the 3-channel base; allowed only when a trace
  of the base with 1 channel passes (EfficientNet: its per-channel ``Normalization`` broadcasts
  1 → 3, which computes exactly what ``repeat`` computes).
* ``sum-stem``: the base is built natively for 1 channel; the first convolution's kernel becomes
  the 3-channel kernel summed over its input axis (timm's ``adapt_input_conv``). Where per-channel
  preprocessing (``Normalization``, per-channel ``Rescaling``) sits between the input and that
  convolution, it is folded into the sum — see :func:`fold_stem`.
* ``learned``: a trainable 1×1 ``Conv2D`` 1 → 3 initialised to ``repeat``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from shapetrace.errors import UsageError

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
    **{k: _TF for k in (
        "mobilenet", "mobilenetv2", "inceptionv3", "inceptionresnetv2", "xception",
        "nasnetmobile", "nasnetlarge", "resnet50v2", "resnet101v2", "resnet152v2",
    )},
    **{k: _CAFFE for k in ("resnet50", "resnet101", "resnet152", "vgg16", "vgg19")},
    **{k: _TORCH for k in ("densenet121", "densenet169", "densenet201")},
}
"""``(scale, offset)`` applied as ``x * scale + offset`` on 0–255 pixels (others preprocess inside)."""

_POINTWISE = ("Rescaling", "Normalization")
_PADDING = ("ZeroPadding2D",)
BN_MOMENTUM_SCRATCH = 0.9
"""From scratch, Keras's 0.99 moving averages lag so far behind in a few hundred steps that
validation (inference mode) sits at chance level while training accuracy climbs."""


class AdaptRefused(UsageError):
    """``--adapt broadcast`` on a model the gray probe breaks; carries the trace with the break."""

    def __init__(self, message: str, trace) -> None:
        super().__init__(message)
        self.trace = trace


@dataclass(frozen=True)
class StemFold:
    """What sum-stem did to the first convolution (recorded in config.json)."""

    stem: str
    """Name of the first convolution."""
    folded: tuple[str, ...]
    """Per-channel preprocessing layers folded into its kernel (reset to identity in the 1-channel model)."""
    constant_into: str | None
    """Where the per-filter constant from the folded offsets went (conv bias or BatchNorm mean)."""
    exact_at_borders: bool
    """False when padding after non-zero offsets makes the border taps differ (see docs)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "stem": self.stem,
            "folded": list(self.folded),
            "constant_into": self.constant_into,
            "exact_at_borders": self.exact_at_borders,
        }


@dataclass(frozen=True)
class Assembly:
    """The model as it will be trained, and how its input meets the base."""

    model: Any
    base: Any
    adapt: str
    """The adaptation used (``"none"`` when the images already have 3 channels)."""
    note: str
    fold: StemFold | None = None


def build_base(app, size, *, channels: int = 3, weights: str = "none"):
    """The application without its top, global-average pooled, declared for ``channels``."""
    from shapetrace.applications import build_application

    native = channels != 3
    return build_application(
        app, size=size, channels=channels, native=native,
        weights=None if weights == "none" else weights, pooling="avg",
    )


def assemble(config, app, n_classes: int) -> Assembly:
    """Build the full model for the resolved ``config`` (call inside the strategy's scope)."""
    from shapetrace._keras_graph import keras

    size, channels = config.size, config.channels
    adapt = config.adapt.value if channels == 1 else "none"
    fold = None
    if adapt == "sum-stem":
        rgb = build_base(app, size, weights=config.weights)
        base = build_base(app, size, channels=1)
        fold = fold_stem(rgb, base)
        note = (
            f"sum-stem: {app.name} built for 1 channel; `{fold.stem}`'s kernel is the RGB kernel "
            f"summed over its input axis"
            + (f", with {', '.join(fold.folded)} folded in" if fold.folded else "")
        )
    else:
        base = build_base(app, size, weights=config.weights)
    if adapt == "broadcast":
        _check_broadcast(base, app, size)
    if not config.pretrained:
        for layer in _all_layers(base):
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = BN_MOMENTUM_SCRATCH

    inputs = keras.Input((size[0], size[1], channels), name="image")
    x = inputs
    if app.key in GRAY_PREPROCESSING:
        scale, offset = GRAY_PREPROCESSING[app.key]
        x = keras.layers.Rescaling(scale, offset, name="imagenet_preprocessing")(x)
    if adapt == "repeat":
        x = keras.layers.Concatenate(axis=-1, name="repeat_gray")([x, x, x])
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


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


def _check_broadcast(base, app, size) -> None:
    from shapetrace.api import trace_model

    result = trace_model(base, channels=1, size=size)
    if result.ok:
        return
    where = ""
    if result.broken is not None:
        b = result.broken
        where = f" at `{b.layer}` ({b.type}: expected {b.expected}, received {b.received})"
    raise AdaptRefused(
        f"--adapt broadcast: {app.name} does not accept 1 channel{where}; use --adapt repeat "
        "(same numbers wherever broadcast works) or sum-stem.",
        result,
    )


def find_stem(model):
    """The first convolution and the layers before it (only pointwise/padding layers allowed).

    Returns:
        ``(stem_layer, chain)`` where ``chain`` lists the layers between the input and the stem.

    Raises:
        UsageError: when the input does not reach exactly one convolution through such layers.
    """
    from shapetrace._keras_graph import consumers_of, graph_of, keras

    graph = graph_of(model)
    if graph is None or len(graph.input_layers) != 1:
        raise UsageError(f"sum-stem: {model.name} is not a single-input functional model; use --adapt repeat.")
    layer = graph.input_layers[0]
    chain = []
    while True:
        nexts = consumers_of(model, layer)
        if len(nexts) != 1:
            kinds = ", ".join(f"`{n.name}`" for n in nexts) or "nothing"
            raise UsageError(
                f"sum-stem: {model.name}'s input feeds {kinds}, not a single first convolution; use "
                "--adapt repeat."
            )
        layer = nexts[0]
        kind = type(layer).__name__
        if kind in _POINTWISE or kind in _PADDING:
            chain.append(layer)
            continue
        if isinstance(layer, keras.layers.Conv2D) and kind == "Conv2D":
            return layer, chain
        raise UsageError(
            f"sum-stem: {model.name} has no single first convolution on its input (the first "
            f"weighted layer is `{layer.name}`, a {kind}); use --adapt repeat."
        )


def _affine(model, chain) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel ``(a, b)`` with ``chain(gray x) = a·x + b``, measured on constant images."""
    from shapetrace._keras_graph import keras

    pointwise = [l for l in chain if type(l).__name__ in _POINTWISE]
    if not pointwise:
        return np.ones(1), np.zeros(1)
    sub = keras.Model(model.input, pointwise[-1].output)
    shape = tuple(model.inputs[0].shape[1:])
    values = [np.full((1, *shape), v, "float32") for v in (0.0, 1.0, 2.0)]
    out = [np.asarray(sub(v))[0, 0, 0].astype("float64") for v in values]
    a, b = out[1] - out[0], out[0]
    if not np.allclose(out[2], 2 * a + b, rtol=1e-5, atol=1e-5):
        raise UsageError(f"sum-stem: the layers before {model.name}'s first convolution are not affine; use --adapt repeat.")
    return a, b


def fold_stem(rgb_model, gray_model) -> StemFold:
    """Copy ``rgb_model``'s weights into ``gray_model`` (built for 1 channel), folding the stem.

    With per-channel preprocessing ``z_c = a_c·x + b_c`` of the gray image before the stem
    kernel ``W`` (shape kh, kw, 3, F), the 1-channel model gets identity preprocessing
    (``a'·x + b'``, e.g. only the scalar 1/255 rescale) and the kernel
    ``K = Σ_c W[..., c, :] · a_c / a'``. The offsets leave a per-filter constant
    ``Σ_{k,c} W[k, c, :] · b_c − b' Σ_k K[k, :]``, added to the conv's bias or subtracted from the
    following BatchNorm's moving mean. Exact wherever the kernel sees only image pixels; where
    it overlaps zero padding the RGB model pads *after* the offsets (padded z = 0, not b_c), which
    one channel cannot reproduce unless all ``b_c`` are 0 — then the fold is exact everywhere.
    """
    from shapetrace._keras_graph import consumers_of, keras

    stem3, chain3 = find_stem(rgb_model)
    stem1, chain1 = find_stem(gray_model)
    if stem1.kernel.shape[2] != 1:
        raise UsageError(
            f"sum-stem: in {gray_model.name} built for 1 channel, `{stem1.name}` still sees "
            f"{stem1.kernel.shape[2]} channels (its preprocessing broadcasts 1 → 3); use --adapt "
            "broadcast or repeat."
        )
    folded = tuple(l.name for l in chain3 if type(l).__name__ in _POINTWISE and _per_channel(l))
    # Copy everything else as is; the 1-channel model's per-channel preprocessing becomes identity.
    layers3 = {l.name: l for l in rgb_model.layers}
    for layer in gray_model.layers:
        if layer is stem1 or not layer.weights:
            continue
        source = layers3.get(layer.name)
        if source is None:
            raise UsageError(f"sum-stem: `{layer.name}` has no counterpart in the 3-channel model; use --adapt repeat.")
        if type(layer).__name__ == "Normalization" and layer in chain1:
            mean, variance, *rest = layer.get_weights()
            layer.set_weights([np.zeros_like(mean), np.ones_like(variance), *rest])
            continue
        layer.set_weights(source.get_weights())
    a3, b3 = _affine(rgb_model, chain3)
    a1, b1 = _affine(gray_model, chain1)
    a3 = np.broadcast_to(a3, (3,))
    b3 = np.broadcast_to(b3, (3,))
    a1, b1 = float(np.ravel(a1)[0]), float(np.ravel(b1)[0])
    w3 = np.asarray(stem3.kernel, dtype="float64")
    kernel = np.einsum("hwcf,c->hwf", w3, a3)[:, :, None, :] / a1
    constant = np.einsum("hwcf,c->f", w3, b3) - b1 * kernel.sum(axis=(0, 1, 2))
    new_weights = [kernel.astype("float32")]
    if stem1.use_bias:
        new_weights.append((np.asarray(stem3.bias) + constant).astype("float32"))
    stem1.set_weights(new_weights)
    into = None
    if np.abs(constant).max() > 1e-12 * max(1.0, np.abs(w3).max()):
        if stem1.use_bias:
            into = f"{stem1.name}.bias"
        else:
            after = consumers_of(gray_model, stem1)
            if len(after) != 1 or not isinstance(after[0], keras.layers.BatchNormalization):
                raise UsageError(
                    f"sum-stem: `{stem1.name}` has no bias and no BatchNormalization right after it to "
                    "absorb the folded preprocessing offset; use --adapt repeat."
                )
            bn = after[0]
            bn.moving_mean.assign(np.asarray(bn.moving_mean) - constant.astype("float32"))
            into = f"{bn.name}.moving_mean"
    has_padding = any(type(l).__name__ in _PADDING for l in chain3) or stem3.padding == "same"
    exact = not has_padding or (np.allclose(b3, 0) and b1 == 0)
    return StemFold(stem=stem1.name, folded=folded, constant_into=into, exact_at_borders=bool(exact))


def _per_channel(layer) -> bool:
    weights = [np.asarray(w) for w in layer.get_weights()]
    scale = np.asarray(getattr(layer, "scale", 1.0))
    return scale.size > 1 or any(w.ndim >= 1 and w.size > 1 for w in weights)
