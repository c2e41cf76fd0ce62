"""``--adapt``: the numerical claims in docs/train.md, checked on real applications.

Random weights saved to a file stand in for pretrained ones (no network here).
"""

from __future__ import annotations

import numpy as np
import pytest

from shapetrace.models.catalog import resolve_application
from shapetrace.tracing._keras_graph import keras
from shapetrace.train.channels import AdaptRefused, assemble, build_base
from shapetrace.train.config import TrainConfig

SIZE = (32, 32)


def gray_batch(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (2, *SIZE, 1)).astype("float32")


def features(assembly, x):
    """The base's output inside the assembled model (everything but the random head)."""
    model = assembly.model
    return np.asarray(keras.Model(model.input, model.get_layer("head_dropout").input)(x))


def assembled(model: str, adapt: str, weights: str):
    config = TrainConfig(model=model, size=SIZE, weights=weights, adapt=adapt).resolved()
    return assemble(config, resolve_application(model), 10)


@pytest.fixture(scope="module")
def efficientnet_weights(tmp_path_factory):
    """EfficientNetB0 weights whose Normalization has distinct per-channel mean and variance."""
    base = build_base(resolve_application("efficientnetb0"), SIZE)
    mean = np.array([0.485, 0.456, 0.406])
    std = np.array([0.229, 0.224, 0.225])
    base.get_layer("normalization").set_weights([mean, std**2, np.array(0)])
    path = tmp_path_factory.mktemp("weights") / "efficientnetb0.weights.h5"
    base.save_weights(path)
    return str(path)


def test_efficientnet_broadcast_equals_repeat(efficientnet_weights):
    """Why the story works: Normalization's (1,1,1,3) mean broadcasts 1 → 3 exactly like repeat."""
    x = gray_batch()
    repeat = features(assembled("efficientnetb0", "repeat", efficientnet_weights), x)
    broadcast = features(assembled("efficientnetb0", "broadcast", efficientnet_weights), x)
    np.testing.assert_allclose(broadcast, repeat, rtol=1e-6, atol=1e-7)
    assert np.abs(repeat).max() > 0


def test_resnet50_sum_stem_matches_repeat(tmp_path):
    """The first conv sees the raw input: summing its kernel over RGB is exact (padding included)."""
    path = tmp_path / "resnet50.weights.h5"
    build_base(resolve_application("resnet50"), SIZE).save_weights(path)
    x = gray_batch(1)
    repeat = features(assembled("resnet50", "repeat", str(path)), x)
    summed = assembled("resnet50", "sum-stem", str(path))
    assert summed.base.get_layer("conv1_conv").kernel.shape[2] == 1
    assert summed.fold.exact_at_borders and summed.fold.folded == ()
    got = features(summed, x)
    scale = max(1.0, float(np.abs(repeat).max()))
    assert np.abs(got - repeat).max() <= 1e-4 * scale


def test_sum_stem_folds_per_channel_normalization(efficientnet_weights):
    """EfficientNet normalises per channel before its stem: sum-stem folds 1/σ_c into the kernel and
    the offsets −μ_c/σ_c into stem_bn's moving mean. Exact where the 3×3 kernel sees only pixels;
    at the zero-padded bottom row / right column the difference is exactly the missing taps."""
    x = gray_batch(2)
    repeat = assembled("efficientnetb0", "repeat", efficientnet_weights)
    summed = assembled("efficientnetb0", "sum-stem", efficientnet_weights)
    assert summed.fold.folded == ("normalization",)
    assert summed.fold.constant_into == "stem_bn.moving_mean"
    assert summed.fold.exact_at_borders is False

    def stem_bn(assembly, image):
        base = assembly.base
        return np.asarray(keras.Model(base.input, base.get_layer("stem_bn").output)(image), dtype="float64")

    want = stem_bn(repeat, np.repeat(x, 3, axis=-1))
    got = stem_bn(summed, x)
    scale = np.abs(want).max()
    interior = np.abs(got - want)[:, :-1, :-1, :]
    assert interior.max() <= 1e-4 * scale
    # Predicted border error: RGB pads z = 0 after normalising; the fold assumed z = −μ_c/σ_c there.
    rgb = repeat.base
    w = np.asarray(rgb.get_layer("stem_conv").kernel, dtype="float64")  # (3, 3, 3, F), stride 2, pad (0,1)
    mean = np.array([0.485, 0.456, 0.406])
    std = np.array([0.229, 0.224, 0.225])
    offsets = -mean / std
    bn = rgb.get_layer("stem_bn")
    gain = np.asarray(bn.gamma) / np.sqrt(np.asarray(bn.moving_variance) + bn.epsilon)
    missing_row = np.einsum("wcf,c->f", w[2], offsets)  # kernel row 2 falls on the padding
    missing_col = np.einsum("hcf,c->f", w[:, 2], offsets)
    missing_corner = missing_row + missing_col - np.einsum("cf,c->f", w[2, 2], offsets)
    diff = got - want
    np.testing.assert_allclose(
        diff[:, -1, :-1, :], np.broadcast_to(missing_row * gain, diff[:, -1, :-1, :].shape), atol=1e-4 * scale
    )
    np.testing.assert_allclose(
        diff[:, :-1, -1, :], np.broadcast_to(missing_col * gain, diff[:, :-1, -1, :].shape), atol=1e-4 * scale
    )
    np.testing.assert_allclose(
        diff[:, -1, -1, :],
        np.broadcast_to(missing_corner * gain, diff[:, -1, -1, :].shape),
        atol=1e-4 * scale,
    )
    assert np.abs(missing_row * gain).max() > 1e-2 * scale  # the border difference is real, not noise


def test_learned_adapter_starts_as_repeat(efficientnet_weights):
    x = gray_batch(3)
    repeat = features(assembled("efficientnetb0", "repeat", efficientnet_weights), x)
    learned = assembled("efficientnetb0", "learned", efficientnet_weights)
    layer = learned.model.get_layer("learned_gray_to_rgb")
    assert layer.trainable and layer.kernel.shape == (1, 1, 1, 3)
    np.testing.assert_allclose(features(learned, x), repeat, rtol=1e-5, atol=1e-6)


def test_broadcast_is_refused_where_the_probe_breaks():
    with pytest.raises(
        AdaptRefused, match=r"does not accept 1 channel at .*conv1_conv.*adapt=repeat"
    ) as info:
        assembled("resnet50", "broadcast", "none")
    assert info.value.trace.broken is not None and "\n" not in str(info.value)
