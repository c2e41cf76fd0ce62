"""The Keras adapter (shapetrace/tracing/_keras_graph.py): its reroutes compute exactly what Keras computes."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from shapetrace.tracing import _keras_graph as kg  # noqa: E402

GROUPED = [  # (input shape, Conv*D keywords): depthwise groupings and general ones, 1-D to 3-D
    ((2, 17, 19, 12), dict(filters=12, kernel_size=3, groups=12, padding="same")),
    ((2, 17, 19, 12), dict(filters=24, kernel_size=3, groups=12, strides=2)),
    ((2, 17, 19, 12), dict(filters=12, kernel_size=(2, 4), groups=12, dilation_rate=2, padding="same")),
    ((2, 17, 19, 12), dict(filters=8, kernel_size=3, groups=4, dilation_rate=2, padding="same")),
    ((2, 17, 12), dict(filters=12, kernel_size=3, groups=12)),
    ((2, 17, 12), dict(filters=6, kernel_size=3, groups=3, strides=2)),
    ((1, 7, 8, 9, 6), dict(filters=6, kernel_size=3, groups=3)),
]
CONV = {3: keras.layers.Conv1D, 4: keras.layers.Conv2D, 5: keras.layers.Conv3D}


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the reroute is TensorFlow's")
@pytest.mark.parametrize(("shape", "config"), GROUPED, ids=[str(c) for _, c in GROUPED])
def test_grouped_conv_without_xla_equals_keras(shape, config):
    from keras.src.backend.tensorflow import nn as tf_nn

    original = tf_nn.conv
    layer = CONV[len(shape)](**config)
    x = np.random.default_rng(0).standard_normal(shape).astype("float32")
    want = np.asarray(layer(x))  # Keras's own route: XLA for a grouped convolution on CPU
    with kg.grouped_conv_without_xla():
        assert tf_nn.conv is not original
        got = np.asarray(layer(x))
    assert tf_nn.conv is original
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the reroute is TensorFlow's")
def test_grouped_conv_misfit_is_left_to_keras():
    """Channels that do not split into the layer's groups: Keras's own route, so its own error."""
    layer = keras.layers.Conv2D(8, 3, groups=4)
    layer.build((None, 9, 9, 8))
    x = np.zeros((1, 9, 9, 6), "float32")
    with pytest.raises(Exception) as plain:
        layer(x)
    with kg.grouped_conv_without_xla(), pytest.raises(Exception) as rerouted:
        layer(x)
    assert type(rerouted.value) is type(plain.value)
