"""The first convolution of an image model, and folding N input channels into it (sum-stem).

Shared by ``shapetrace adapt`` and ``shapetrace train --adapt sum-stem``: one implementation of
finding the stem, of timm's kernel rule, and of folding per-channel preprocessing into it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from shapetrace.errors import UsageError

__all__ = ["Stem", "StemFold", "find_stem", "fold_stem", "timm_map"]

_POINTWISE = ("Rescaling", "Normalization")
_PADDING = ("ZeroPadding2D",)


def timm_map(channels: int) -> np.ndarray:
    """timm's ``adapt_input_conv`` as a 3 × N matrix ``P`` (the new kernel is ``W·P``): for N = 1
    the sum over the RGB axis; otherwise the RGB kernel repeated over the N channels
    (``j mod 3``) and scaled by 3/N, which keeps the activations' size."""
    p = np.zeros((3, channels))
    if channels == 1:
        p[:, 0] = 1.0
    else:
        for j in range(channels):
            p[j % 3, j] = 3.0 / channels
    return p


@dataclass(frozen=True)
class StemFold:
    """What sum-stem did to the first convolution."""

    stem: str
    """Name of the first convolution."""
    folded: tuple[str, ...]
    """Per-channel preprocessing layers folded into its kernel (identity in the adapted model)."""
    constant_into: str | None
    """Where the per-filter constant from the folded offsets went (conv bias or BatchNorm mean)."""
    exact_at_borders: bool
    """False when zero padding after non-zero per-channel offsets makes the border taps differ."""
    border_difference: float = 0.0
    """An upper bound of the difference at the padded border (after the BatchNorm that absorbed
    the constant): the largest per-filter sum of the taps' residuals; 0 when exact."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "stem": self.stem,
            "folded": list(self.folded),
            "constant_into": self.constant_into,
            "exact_at_borders": self.exact_at_borders,
            "border_difference": self.border_difference,
        }


@dataclass(frozen=True)
class Stem:
    """The first convolution of a model and what lies between it and the input."""

    conv: Any
    chain: tuple[Any, ...]
    """Pointwise/padding layers between the input and the conv, in order."""
    owner: Any
    """The (possibly nested) model whose graph holds the conv."""


def find_stem(model: Any) -> Stem:
    """The first convolution and the layers before it (only pointwise/padding layers allowed).

    Raises:
        UsageError: when the input does not reach exactly one plain ``Conv2D`` through such
            layers; the message names the layer that stands in the way.
    """
    from shapetrace.tracing._keras_graph import consumers_of, graph_of, is_model

    graph = graph_of(model)
    if graph is None or len(graph.input_layers) != 1:
        raise UsageError(
            f"sum-stem: {model.name} is not a single-input functional model; use method=repeat.",
            param="method",
        )
    owner, layer, chain = model, graph.input_layers[0], []
    while True:
        nexts = consumers_of(owner, layer)
        if len(nexts) != 1:
            kinds = ", ".join(f"`{n.name}`" for n in nexts) or "nothing"
            raise UsageError(
                f"sum-stem: {model.name}'s input feeds {kinds}, not a single first convolution; use "
                "method=repeat.",
                param="method",
            )
        layer = nexts[0]
        kind = type(layer).__name__
        if is_model(layer):
            inner = graph_of(layer)
            if inner is None or len(inner.input_layers) != 1:
                break
            owner, layer = layer, inner.input_layers[0]
            continue
        if kind in _PADDING or (kind in _POINTWISE and owner is model):
            chain.append(layer)
            continue
        if kind == "Conv2D" and getattr(layer, "groups", 1) == 1 and layer.data_format == "channels_last":
            return Stem(conv=layer, chain=tuple(chain), owner=owner)
        break
    detail = f" inside the nested model `{owner.name}`" if kind in _POINTWISE else ""
    if kind == "Conv2D":
        detail = " with groups" if getattr(layer, "groups", 1) != 1 else " in channels_first format"
    raise UsageError(
        f"sum-stem: {model.name}'s input does not reach a plain first convolution: `{layer.name}` is a "
        f"{kind}{detail}, not a Conv2D (only Rescaling, Normalization and ZeroPadding2D may stand "
        "before it); use method=repeat.",
        param="method",
    )


def _affine(model: Any, chain: tuple[Any, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel ``(a, b)`` with ``chain(constant image v) = a·v + b``, measured."""
    from shapetrace.tracing._keras_graph import keras

    pointwise = [l for l in chain if type(l).__name__ in _POINTWISE]
    channels = int(model.inputs[0].shape[-1])
    if not pointwise:
        return np.ones(channels), np.zeros(channels)
    sub = keras.Model(model.inputs[0], pointwise[-1].output)
    shape = tuple(4 if d is None else d for d in model.inputs[0].shape[1:])
    out = [
        np.asarray(sub(np.full((1, *shape), v, "float32")))[0, 0, 0].astype("float64")
        for v in (0.0, 1.0, 2.0)
    ]
    a, b = out[1] - out[0], out[0]
    if not np.allclose(out[2], 2 * a + b, rtol=1e-5, atol=1e-5):
        raise UsageError(
            f"sum-stem: the layers before {model.name}'s first convolution are not affine; use method=repeat.",
            param="method",
        )
    return a, b


def _per_channel(layer: Any) -> bool:
    if type(layer).__name__ == "Normalization":  # mean/variance are weights only when adapted
        return np.asarray(layer.mean).size > 1 or np.asarray(layer.variance).size > 1
    weights = [np.asarray(w) for w in layer.get_weights()]
    scale = np.asarray(getattr(layer, "scale", 1.0))
    offset = np.asarray(getattr(layer, "offset", 0.0))
    return scale.size > 1 or offset.size > 1 or any(w.ndim >= 1 and w.size > 1 for w in weights)


def _copy_weights(source: Any, target: Any, skip: tuple[Any, ...]) -> None:
    """Copy weights layer by layer (matched by name, nested models walked), except ``skip``."""
    from shapetrace.tracing._keras_graph import is_model, sublayers

    by_name = {l.name: l for l in source.layers}
    for layer in target.layers:
        if any(layer is s for s in skip) or not layer.weights:
            continue
        match = by_name.get(layer.name)
        if match is None:
            raise UsageError(
                f"sum-stem: `{layer.name}` has no counterpart in the 3-channel model; use method=repeat.",
                param="method",
            )
        if is_model(layer) and any(inner is s for inner in sublayers(layer) for s in skip):
            _copy_weights(match, layer, skip)
            continue
        layer.set_weights(match.get_weights())


def fold_stem(rgb_model: Any, native_model: Any, channels: int = 1) -> StemFold:
    """Copy ``rgb_model``'s weights into ``native_model`` (declared for N channels), folding the stem.

    With per-channel preprocessing ``z_c = a_c·x_c + b_c`` before the stem kernel ``W``
    (kh, kw, 3, F) and ``P`` = :func:`timm_map`, the N-channel model gets scalar
    preprocessing ``a'·x + b'`` (per-channel layers reset to identity) and the kernel
    ``K = W·diag(a)·P / a'`` — timm's rule when ``a = 1``. Each kernel tap leaves the residual
    ``r_k = Σ_c W[k, c]·b_c − b'·Σ_j K[k, j]``; their sum goes into the conv's bias or comes off
    the following BatchNorm's moving mean. Exact wherever the kernel sees only image pixels; at
    taps on zero padding the 3-channel model pads *after* the offsets, so outputs there differ by
    the padded taps' ``r_k`` — zero when every ``r_k`` is (all ``b_c/a_c`` equal, e.g. none).
    """
    from shapetrace.tracing._keras_graph import consumers_of, keras

    rgb, native = find_stem(rgb_model), find_stem(native_model)
    conv3, conv_n = rgb.conv, native.conv
    if conv_n.kernel.shape[2] != channels:
        raise UsageError(
            f"sum-stem: in {native_model.name} built for {channels} channel(s), `{conv_n.name}` still sees "
            f"{conv_n.kernel.shape[2]} channels (its preprocessing broadcasts to 3); use method=repeat.",
            param="method",
        )
    if conv3.kernel.shape[2] != 3:
        raise UsageError(
            f"sum-stem: `{conv3.name}` of {rgb_model.name} sees {conv3.kernel.shape[2]} channels, not 3."
        )
    folded = tuple(l.name for l in rgb.chain if type(l).__name__ in _POINTWISE and _per_channel(l))
    _copy_weights(rgb_model, native_model, (conv_n, *native.chain))
    for layer in native.chain:  # the per-channel preprocessing is folded: make it identity
        if type(layer).__name__ == "Normalization" and layer.get_weights():
            mean, variance, *rest = layer.get_weights()
            layer.set_weights([np.zeros_like(mean), np.ones_like(variance), *rest])
    a3, b3 = (np.broadcast_to(v, (3,)) for v in _affine(rgb_model, rgb.chain))
    a_n, b_n = _affine(native_model, native.chain)
    if not (np.allclose(a_n, a_n.flat[0]) and np.allclose(b_n, b_n.flat[0])):
        raise UsageError(
            f"sum-stem: per-channel preprocessing remains before `{conv_n.name}` in the {channels}-channel model; use method=repeat.",
            param="method",
        )
    a1, b1 = float(a_n.flat[0]), float(b_n.flat[0])
    w3 = np.asarray(conv3.kernel, dtype="float64")
    mix = a3[:, None] * timm_map(channels)  # (3, N)
    kernel = np.einsum("hwcf,cn->hwnf", w3, mix) / a1
    residual = np.einsum("hwcf,c->hwf", w3, b3) - b1 * kernel.sum(axis=2)
    constant = residual.sum(axis=(0, 1))
    new_weights = [kernel.astype("float32")]
    if conv_n.use_bias:
        new_weights.append((np.asarray(conv3.bias, dtype="float64") + constant).astype("float32"))
    conv_n.set_weights(new_weights)
    into, gain = None, np.ones_like(constant)
    if np.abs(constant).max() > 1e-12 * max(1.0, np.abs(w3).max()):
        if conv_n.use_bias:
            into = f"{conv_n.name}.bias"
        else:
            after = consumers_of(native.owner, conv_n)
            if len(after) != 1 or not isinstance(after[0], keras.layers.BatchNormalization):
                raise UsageError(
                    f"sum-stem: `{conv_n.name}` has no bias and no BatchNormalization right after it to "
                    "absorb the folded preprocessing offsets; use method=repeat.",
                    param="method",
                )
            bn = after[0]
            bn.moving_mean.assign(np.asarray(bn.moving_mean) - constant.astype("float32"))
            into = f"{bn.name}.moving_mean"
            gain = np.abs(np.asarray(bn.gamma) if bn.scale else 1.0) / np.sqrt(
                np.asarray(bn.moving_variance) + bn.epsilon
            )
    padded = any(type(l).__name__ in _PADDING for l in rgb.chain) or (
        conv3.padding == "same" and tuple(conv3.kernel_size) != (1, 1)
    )
    scale = max(1.0, float(np.abs(w3).max()))
    exact = not padded or float(np.abs(residual).max()) <= 1e-9 * scale
    bound = 0.0 if exact else float((np.abs(residual).sum(axis=(0, 1)) * gain).max())
    return StemFold(
        stem=conv_n.name,
        folded=folded,
        constant_into=into,
        exact_at_borders=bool(exact),
        border_difference=bound,
    )
