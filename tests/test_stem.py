"""The first convolution of an image model, and folding N input channels into it (sum-stem).

Each fold is checked against its definition: the N-channel model on ``x`` equals the
3-channel model on ``x`` mapped by timm's matrix (``y_c = Σ_n P[c, n]·x_n``).
"""

from __future__ import annotations

import numpy as np
import pytest

from shapetrace.adapt.stem import find_stem, fold_stem, timm_map
from shapetrace.errors import UsageError
from shapetrace.tracing._keras_graph import keras


def stem_model(channels, *, scale=1.0, offset=0.0, padding="valid", bias=True, bn=False, seed=None):
    """Rescaling, the stem conv (4 filters, 3×3), maybe a BatchNorm, a 1×1 conv; random weights from ``seed``."""
    layers = keras.layers
    inputs = keras.Input((8, 8, channels), name="image")
    x = layers.Rescaling(scale, offset, name="scale")(inputs)
    x = layers.Conv2D(4, 3, padding=padding, use_bias=bias, name="stem")(x)
    if bn:
        x = layers.BatchNormalization(name="bn")(x)
    model = keras.Model(inputs, layers.Conv2D(2, 1, name="next")(x), name=f"net{channels}")
    if seed is not None:
        rng = np.random.default_rng(seed)
        for layer in model.layers:
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in layer.get_weights()])
    return model


def outputs(model, x):
    return np.asarray(model(x.astype("float32"), training=False), dtype="float64")


def mapped(x, channels):
    return np.einsum("bhwn,cn->bhwc", x, timm_map(channels))


def test_timm_map_sums_for_one_channel_and_repeats_scaled_for_more():
    np.testing.assert_array_equal(timm_map(1), [[1.0], [1.0], [1.0]])
    np.testing.assert_array_equal(timm_map(2), [[1.5, 0.0], [0.0, 1.5], [0.0, 0.0]])
    four = timm_map(4)
    assert four.shape == (3, 4) and four[0, 3] == four[0, 0] == 0.75  # the 4th channel takes red again
    np.testing.assert_allclose(four.sum(axis=0), 0.75)  # each new channel reads one RGB kernel, scaled 3/N


def test_find_stem_returns_the_conv_and_the_layers_before_it():
    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Rescaling(0.5, name="scale"),
            keras.layers.ZeroPadding2D(1, name="pad"),
            keras.layers.Conv2D(4, 3, name="first"),
            keras.layers.Conv2D(4, 3, name="second"),
        ]
    )
    stem = find_stem(model)
    assert stem.conv.name == "first" and [layer.name for layer in stem.chain] == ["scale", "pad"]
    assert stem.owner is model


def test_find_stem_refuses_a_grouped_conv():
    inputs = keras.Input((8, 8, 3))
    grouped = keras.Model(inputs, keras.layers.Conv2D(3, 3, groups=3, name="grouped")(inputs))
    with pytest.raises(UsageError, match="`grouped` is a Conv2D with groups"):
        find_stem(grouped)


def test_sum_stem_needs_a_single_first_convolution():
    inputs = keras.Input((8, 8, 3))
    a = keras.layers.Conv2D(4, 3, name="left")(inputs)
    b = keras.layers.Conv2D(4, 3, name="right")(inputs)
    branching = keras.Model(inputs, keras.layers.Add()([a, b]))
    with pytest.raises(UsageError, match="not a single first convolution"):
        find_stem(branching)
    dense_first = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Dense(4, name="first_dense")])
    with pytest.raises(UsageError, match="`first_dense` is a Dense, not a Conv2D"):
        find_stem(dense_first)


@pytest.mark.parametrize("channels", [1, 2, 4])
@pytest.mark.parametrize("scale, offset", [(1.0, 0.0), (1 / 127.5, -1.0)], ids=["plain", "scalar-affine"])
def test_fold_is_the_rgb_model_on_the_mapped_input(channels, scale, offset):
    rgb = stem_model(3, scale=scale, offset=offset, padding="same", seed=0)
    native = stem_model(channels, scale=scale, offset=offset, padding="same")
    fold = fold_stem(rgb, native, channels)
    # A scalar offset leaves a constant only where the map does not sum the RGB kernel (N > 1).
    leftover = channels > 1 and offset != 0.0
    assert (fold.stem, fold.folded) == ("stem", ())
    assert (fold.constant_into, fold.exact_at_borders) == (("stem.bias", False) if leftover else (None, True))
    x = np.random.default_rng(1).uniform(0, 255, (2, 8, 8, channels))
    got, want = outputs(native, x), outputs(rgb, mapped(x, channels))
    np.testing.assert_allclose(got[:, 1:-1, 1:-1], want[:, 1:-1, 1:-1], rtol=1e-4, atol=1e-3)
    if fold.exact_at_borders:
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)


def test_per_channel_preprocessing_folds_into_the_kernel_and_the_bias():
    rgb = stem_model(3, scale=[0.5, 1.0, 2.0], offset=[-1.0, 0.0, 3.0], seed=0)
    native = stem_model(1)
    fold = fold_stem(rgb, native, 1)
    assert (fold.folded, fold.constant_into, fold.exact_at_borders) == (("scale",), "stem.bias", True)
    x = np.random.default_rng(2).uniform(0, 1, (2, 8, 8, 1))
    np.testing.assert_allclose(outputs(native, x), outputs(rgb, mapped(x, 1)), rtol=1e-4, atol=1e-4)


def test_without_a_bias_the_constant_comes_off_the_batchnorm_and_borders_stay_bounded():
    rgb = stem_model(
        3, scale=[0.5, 1.0, 2.0], offset=[-1.0, 0.0, 3.0], padding="same", bias=False, bn=True, seed=0
    )
    native = stem_model(1, padding="same", bias=False, bn=True)
    fold = fold_stem(rgb, native, 1)
    assert fold.constant_into == "bn.moving_mean" and not fold.exact_at_borders
    x = np.random.default_rng(3).uniform(0, 1, (2, 8, 8, 1))
    # The BatchNorm's own output: inside the image exact, at the padded border within the bound.
    probe = lambda model: keras.Model(model.input, model.get_layer("bn").output)  # noqa: E731
    got, want = outputs(probe(native), x), outputs(probe(rgb), mapped(x, 1))
    np.testing.assert_allclose(got[:, 1:-1, 1:-1], want[:, 1:-1, 1:-1], rtol=1e-4, atol=1e-4)
    assert 0 < np.abs(got - want).max() <= fold.border_difference * (1 + 1e-4)


def test_offsets_with_nowhere_to_go_are_refused():
    rgb = stem_model(3, offset=[-1.0, 0.0, 3.0], bias=False, seed=0)
    with pytest.raises(UsageError, match="has no bias and no BatchNormalization"):
        fold_stem(rgb, stem_model(1, bias=False), 1)
