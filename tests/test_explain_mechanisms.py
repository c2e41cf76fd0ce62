"""Why the last axis changed, for sequence, attention and projection layers and custom blocks.

Each case traces a real layer and checks the stated mechanism against what that layer is
configured to do — and that nothing is claimed where the observed shapes do not bear it out.
"""

from __future__ import annotations

import pytest
from toy_models import trace_layer

from shapetrace.tracing._keras_graph import keras
from shapetrace.tracing.explain import explain_block, explain_change


@pytest.mark.parametrize(
    "make, shapes, mechanism, why",
    [
        (lambda L: L.LSTM(128), [(12, 7)], "recurrent", "LSTM with units=128"),
        (lambda L: L.GRU(32, return_sequences=True), [(12, 7)], "recurrent", "GRU with units=32"),
        (lambda L: L.RNN(L.SimpleRNNCell(16)), [(10, 7)], "recurrent", "RNN with units=16"),
        (
            lambda L: L.ConvLSTM2D(4, 3, padding="same"),
            [(3, 8, 8, 2)],
            "recurrent",
            "ConvLSTM2D with filters=4",
        ),
        (
            lambda L: L.Bidirectional(L.LSTM(64, return_sequences=True)),
            [(12, 7)],
            "recurrent",
            "Bidirectional LSTM with units=64: 2 × 64 concatenated",
        ),
        (
            lambda L: L.Bidirectional(L.GRU(32), merge_mode="sum"),
            [(12, 7)],
            "recurrent",
            "Bidirectional GRU with units=32: both directions summed",
        ),
        (
            lambda L: L.Bidirectional(L.LSTM(16), merge_mode="ave"),
            [(20, 7)],
            "recurrent",
            "Bidirectional LSTM with units=16: both directions averaged",
        ),
        (
            lambda L: L.Bidirectional(L.LSTM(16), merge_mode="mul"),
            [(20, 7)],
            "recurrent",
            "Bidirectional LSTM with units=16: both directions multiplied",
        ),
        (
            lambda L: L.TimeDistributed(L.Dense(16)),
            [(12, 64)],
            "dense",
            "Dense with units=16, applied at each of 12 steps",
        ),
        (
            lambda L: L.TimeDistributed(L.Conv2D(8, 3)),
            [(4, 10, 10, 3)],
            "conv",
            "Conv2D with filters=8, applied at each of 4 steps",
        ),
        (
            lambda L: L.EinsumDense("abc,cd->abd", output_shape=(None, 6)),
            [(7, 3)],
            "dense",
            "EinsumDense 'abc,cd->abd': the kernel's 'd' axis gives 6",
        ),
        (
            lambda L: L.Conv2DTranspose(3, 3, strides=2, padding="same"),
            [(4, 4, 8)],
            "conv",
            "Conv2DTranspose with filters=3",
        ),
        (lambda L: L.Conv1DTranspose(5, 3, strides=2), [(6, 4)], "conv", "Conv1DTranspose with filters=5"),
        (
            lambda L: lambda x: L.MultiHeadAttention(2, 4, output_shape=16)(x, x),
            [(5, 8)],
            "attention",
            "attention output projected to 16 (num_heads=2, key_dim=4)",
        ),
        # the dot-product layer returns a weighted sum of the values: their feature count
        (
            lambda L: lambda q, v, k: L.Attention()([q, v, k]),
            [(5, 8), (7, 6), (7, 8)],
            "attention",
            "weighted sum of the values' 6 features",
        ),
    ],
    ids=[
        "lstm",
        "gru",
        "rnn-cell",
        "conv-lstm",
        "bidirectional-concat",
        "bidirectional-sum",
        "bidirectional-ave",
        "bidirectional-mul",
        "time-distributed-dense",
        "time-distributed-conv",
        "einsum-dense",
        "conv2d-transpose",
        "conv1d-transpose",
        "multi-head-attention",
        "dot-attention",
    ],
)
def test_mechanism(make, shapes, mechanism, why):
    row = trace_layer(make, *shapes)
    assert (row.mechanism, row.why) == (mechanism, why)


def test_embedding_turns_each_token_into_a_vector():
    row = trace_layer(lambda L: L.Embedding(1000, 32), (40,), dtype="int32")
    assert row.mechanism == "embedding"
    assert row.why == "Embedding with output_dim=32: each token id becomes a 32-vector"


def test_nothing_is_claimed_that_the_shapes_do_not_show():
    lstm = keras.layers.LSTM(8)
    lstm.build((1, 5, 3))
    # An LSTM with units=8 cannot have produced 9 features: no recurrent claim.
    assert explain_change(lstm, ((1, 5, 3),), (1, 9))[0] == "other"
    both = keras.layers.Bidirectional(keras.layers.LSTM(8), merge_mode="sum")
    both.build((1, 5, 3))
    assert explain_change(both, ((1, 5, 3),), (1, 16))[0] == "other"  # summed: 8, not 16


def _projection_block():
    """A feed-forward block as users write it in Transformers: Dense up, Dense down, normalization."""
    layers = keras.layers
    inputs = keras.Input((10, 32), name="tokens")
    x = layers.Dense(64, activation="relu", name="up")(inputs)
    x = layers.Dense(48, name="down")(x)
    x = layers.LayerNormalization(name="norm")(x)
    return keras.Model(inputs, x, name="ffn_block")


def test_a_block_names_the_sublayer_that_set_its_last_axis():
    import shapetrace

    keras.backend.clear_session()
    block = _projection_block()
    trace = shapetrace.trace_model(block)
    inner = trace.layers[1:]
    mechanism, why = explain_block(block, ((1, 10, 32),), (1, 10, 48), inner)
    assert (mechanism, why) == ("dense", "set inside by `down` (Dense): Dense with units=48")


def test_a_block_whose_last_change_does_not_give_its_output_is_other():
    import shapetrace

    keras.backend.clear_session()
    block = _projection_block()
    inner = shapetrace.trace_model(block).layers[1:]
    # Had the block's output 64 features (e.g. an op after the last recorded call), `up`
    # made 64 but `down` changed it later: no sublayer can be named.
    assert explain_block(block, ((1, 10, 32),), (1, 10, 64), inner)[0] == "other"
    assert explain_block(block, ((1, 10, 32),), (1, 10, 48), ())[0] == "other"
