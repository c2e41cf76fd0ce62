"""The call recorder: a subclassed model or a custom layer opened into the real calls of its sublayers.

Every expectation is computed from Keras in the test: a recorded call's output shape is what
running that very sublayer on a tensor of the recorded input shape gives.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import user_models as um

from shapetrace.api import trace_model
from shapetrace.tracing import _keras_graph as kg
from shapetrace.tracing.probes import make_probes
from shapetrace.tracing.recorder import is_opened, is_user_defined

keras = kg.keras


def _layer_at(model, path: str):
    """The layer object a row's path names (names are unique within a fresh session)."""
    names = path.split("/")[1:]
    layer = model
    for name in names:
        layer = next(sub for sub in kg.sublayers(layer) if sub.name == name)
    return layer


def _run(layer, shapes, dtype="float32"):
    """Run ``layer`` on random tensors of ``shapes`` (with their batch axis), as its real call would."""
    rng = np.random.default_rng(1)
    arrays = [rng.uniform(0, 1, size=s).astype(dtype) for s in shapes]
    # Several tensors go in as the call's positional arguments (attention's query, value) or
    # as one tuple (Sampling's (z_mean, z_log_var)), as the layer's signature says.
    args = (
        arrays if len(arrays) == 1 or len(kg.call_argument_names(layer)) >= len(arrays) else [tuple(arrays)]
    )
    out = layer(*args, training=False) if _takes_training(layer) else layer(*args)
    return tuple(kg.flatten_tensors(out)[0].shape)


def _takes_training(layer) -> bool:
    import inspect

    return "training" in inspect.signature(layer.call).parameters


@pytest.mark.parametrize("name", ["resnetish_called", "vae_called"])
def test_subclassed_model_rows_are_its_real_sublayer_calls(name):
    model = um.USER_MODELS[name]()
    result = trace_model(model)
    assert result.ok, result.broken
    rows = result.layers
    # The model's own row first, with its real output; every built-in sublayer appears as a leaf row.
    probe = np.zeros(result.probe.shape, "float32")
    assert rows[0].path == model.name and rows[0].container
    assert rows[0].output == tuple(model(probe).shape)
    leaves = [row for row in rows if not row.container]
    builtin = {
        id(layer) for layer in kg.sublayers(model) if not is_user_defined(layer) and not kg.is_model(layer)
    }
    assert {id(_layer_at(model, row.path)) for row in leaves} == builtin
    assert leaves[-1].output == tuple(model(probe).shape)
    # Each recorded call's output is what running that sublayer on its recorded input gives.
    for row in rows[1:]:
        assert row.output == _run(_layer_at(model, row.path), row.inputs), row.path
    # Rows nest under their block; the params invariant holds.
    for row in rows[1:]:
        parent = row.path.rsplit("/", 1)[0]
        assert parent == model.name or any(r.path == parent and r.container for r in rows[: row.index])
    assert sum(row.params for row in rows) == model.count_params() == result.total_params


def test_custom_layers_inside_a_functional_model_are_opened():
    kg.reset_naming()  # auto-generated names count the layers other tests built in this process
    model = um.text_transformer()
    result = trace_model(model)
    assert result.ok
    by_path = {row.path: row for row in result.layers}
    tokens = np.asarray(make_probes(model, channels=None, size=None, batch=1)[1][0])
    embedding = by_path["text_transformer/token_and_position_embedding"]
    block = by_path["text_transformer/transformer_block"]
    assert embedding.container and block.container and embedding.type == "TokenAndPositionEmbedding"
    # The container row shows the block's real output, including `x + positions` done in call().
    embedded = _layer_at(model, embedding.path)(tokens)
    assert embedding.output == tuple(embedded.shape)
    assert block.output == tuple(_layer_at(model, block.path)(embedded).shape)
    inside = [row for row in result.layers if row.path.startswith(block.path + "/")]
    assert {r.type for r in inside} >= {"MultiHeadAttention", "LayerNormalization", "Dense", "Dropout"}
    for row in inside:  # the attention layer is one leaf: its einsum projections are not rows
        assert row.type != "EinsumDense"
        assert row.output == _run(_layer_at(model, row.path), row.inputs), row.path
    assert result.layers[-1].output == tuple(model(tokens).shape)
    assert sum(row.params for row in result.layers) == model.count_params()
    # Container rows carry only their own weights: none here, the sublayers carry the rest.
    assert embedding.params == 0 and block.params == 0


def test_the_hook_is_installed_only_during_a_trace_and_only_for_its_thread():
    original = keras.layers.Layer.__call__
    other = keras.layers.Dense(3, name="other_thread_dense")
    stop = threading.Event()

    def busy():
        while not stop.is_set():
            other(np.ones((1, 4), "float32"))

    thread = threading.Thread(target=busy)
    thread.start()
    try:
        result = trace_model(um.resnetish_called())
        broken = trace_model(um.resnetish_called(), channels=1)
    finally:
        stop.set()
        thread.join()
    assert keras.layers.Layer.__call__ is original
    assert all("other_thread_dense" not in row.path for row in result.layers)
    assert broken.broken is not None and keras.layers.Layer.__call__ is original


class _WithFallback(keras.layers.Layer):
    """Tries a projection built for another width, falls back when it refuses (user code catching)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.wide = keras.layers.Dense(4, name="wide")
        self.fallback = keras.layers.Dense(4, name="fallback")

    def build(self, input_shape):
        self.wide.build((None, input_shape[-1] + 1))

    def call(self, x):
        try:
            return self.wide(x)
        except ValueError:
            return self.fallback(x)


def test_an_exception_the_users_code_catches_is_no_break():
    inputs = keras.Input((6,))
    model = keras.Model(inputs, _WithFallback(name="with_fallback")(inputs), name="caught")
    result = trace_model(model)
    assert result.ok and result.broken is None
    assert result.layers[-1].path == "caught/with_fallback/fallback" and result.layers[-1].output == (1, 4)
    assert not any(row.failed for row in result.layers)
    assert sum(row.params for row in result.layers) == model.count_params()


def test_only_classes_from_outside_keras_are_opened():
    assert not is_user_defined(keras.layers.Dense(2)) and not is_opened(keras.layers.Dense(2))
    assert not is_user_defined(keras.Sequential([keras.layers.Dense(2)]))
    assert is_user_defined(_WithFallback()) and is_opened(_WithFallback())
    assert is_user_defined(um.resnetish_called())  # a subclassed model is the user's class too


def test_a_call_that_raises_inside_a_subclassed_model_ends_the_rows_at_the_break():
    model = um.resnetish_called()  # declared for 3 channels: a 1-channel probe breaks its first conv
    result = trace_model(model, channels=1)
    broken = result.broken
    assert broken is not None and broken.layer.startswith(model.name + "/")
    last = result.layers[-1]
    assert (last.path, last.failed, last.index) == (broken.layer, True, broken.index)
    assert last.inputs == (result.probe.shape,)
    assert not any(row.failed for row in result.layers[:-1])
