"""The streaming engine: one row per executed call, outputs as Keras computes them, the break, memory."""

from __future__ import annotations

import numpy as np

from shapetrace.tracing._keras_graph import keras
from shapetrace.tracing.probes import make_probes
from shapetrace.tracing.walk import walk_stream


def _nested():
    """Two convs around a nested Sequential of two layers, then pooling and a head."""
    layers = keras.layers
    keras.backend.clear_session()
    inner = keras.Sequential([layers.Conv2D(6, 1, name="mix"), layers.ReLU(name="relu")], name="inner")
    inputs = keras.Input((8, 8, 3), name="image")
    x = layers.Conv2D(4, 3, padding="same", name="stem")(inputs)
    x = inner(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, layers.Dense(2, name="head")(x), name="outer")


def _walk(model, channels=None, **kwargs):
    probes, arrays = make_probes(model, channels=channels, size=None, batch=2)
    return walk_stream(model, probes, arrays, **kwargs), arrays


def test_one_row_per_call_with_the_outputs_keras_computes():
    model = _nested()
    result, arrays = _walk(model)
    assert result.boundary.accepted and result.broken is None
    assert [(r.path, r.depth) for r in result.rows] == [
        ("outer/image", 0),
        ("outer/stem", 0),
        ("outer/inner/mix", 1),  # a nested model is walked: its layers' rows, one level deeper
        ("outer/inner/relu", 1),
        ("outer/pool", 0),
        ("outer/head", 0),
    ]
    assert [r.index for r in result.rows] == list(range(len(result.rows)))
    by_path = {r.path: r for r in result.rows}
    for name, path in (("stem", "stem"), ("inner", "inner/relu"), ("pool", "pool"), ("head", "head")):
        expected = keras.Model(model.input, model.get_layer(name).output)(arrays[0]).shape
        assert by_path[f"outer/{path}"].output == tuple(expected), name
    assert sum(r.params for r in result.rows) == model.count_params()  # every weight counted once


def test_progress_is_reported_after_every_row():
    counts: list[int] = []
    result, _ = _walk(_nested(), on_layer=counts.append)
    assert counts == sorted(counts) and counts[-1] == len(result.rows)


def test_a_probe_that_does_not_fit_ends_the_walk_at_its_break():
    model = _nested()
    result, _ = _walk(model, channels=1)
    broken = result.broken
    assert broken is not None and (broken.layer, broken.type) == ("outer/stem", "Conv2D")
    last = result.rows[-1]
    assert (last.path, last.failed, last.output) == ("outer/stem", True, None)
    assert broken.index == last.index == len(result.rows) - 1
    assert last.inputs == ((2, 8, 8, 1),)


def test_only_the_live_activations_are_held():
    layers = keras.layers
    keras.backend.clear_session()
    inputs = keras.Input((64,))
    x = inputs
    for i in range(6):
        x = layers.Dense(64, name=f"dense_{i}")(x)
    result, _ = _walk(keras.Model(inputs, x))
    sizes = [r.activation_bytes for r in result.rows]
    assert sizes == [2 * 64 * 4] * 7
    # A layer's input and output live together; the chain's earlier outputs are already gone.
    assert max(sizes) < result.peak_live_bytes < sum(sizes)
    assert np.isclose(result.peak_live_bytes, 2 * sizes[0])
