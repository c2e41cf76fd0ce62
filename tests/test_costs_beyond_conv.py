"""MACs beyond convolutions: recurrent layers, wrappers, attention, einsum, transposed convs, unknowns.

Every expected count is written out by hand from the layer's definition (the paper's equations or
Keras's documented computation), not copied from shapetrace's output:

* LSTM (Hochreiter & Schmidhuber; Keras ``LSTMCell``): 4 gates, each ``W·x_t + U·h_{t-1}``, so per
  step and sample ``4·u·(d + u)`` multiply-adds; the gate products ``f⊙c``, ``i⊙g``, ``o⊙tanh(c)``
  are element-wise and not accumulated, so not counted (like ``Multiply``).
* GRU (Cho et al. 2014; Keras ``GRUCell``): 3 blocks (update, reset, candidate), ``3·u·(d + u)``
  per step with either ``reset_after``: True multiplies ``h·U_h`` and then applies ``r ⊙ (·)``;
  False multiplies ``(r ⊙ h)·U_h`` — the same weights meet the same number of values.
* SimpleRNN: ``u·(d + u)`` per step.
* MultiHeadAttention (Vaswani et al. 2017): projections ``T_q·d_q·H·k`` (Q), ``T_v·d_k·H·k`` (K),
  ``T_v·d_v·H·v`` (V), ``T_q·H·v·d_out`` (output), plus ``QKᵀ``: ``H·T_q·T_v·k`` and ``AV``:
  ``H·T_q·T_v·v``.
"""

from __future__ import annotations

import json

import pytest
from conftest import render_plain, stable_json
from toy_models import trace_layer

from shapetrace.tracing._keras_graph import keras
from shapetrace.tracing.costs import totals_of
from shapetrace.tracing.report import trace_document


def _trace(model, **kwargs):
    import shapetrace

    trace = shapetrace.trace_model(model, **kwargs)
    assert trace.ok, trace.broken
    return trace


B, T, D, U = 2, 5, 3, 8  # batch, steps, features in, units

# Per step and sample: LSTM 4·u·(d+u), GRU 3·u·(d+u), SimpleRNN u·(d+u); × steps × batch.
LSTM_MACS = B * T * 4 * U * (D + U)  # 2·5·4·8·11 = 3,520
GRU_MACS = B * T * 3 * U * (D + U)  # 2·5·3·8·11 = 2,640
SIMPLE_MACS = B * T * U * (D + U)  # 2·5·8·11 = 880


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda L: L.LSTM(U), LSTM_MACS),
        # every step runs even when only the last output is returned
        (lambda L: L.LSTM(U, return_sequences=True), LSTM_MACS),
        (lambda L: L.GRU(U), GRU_MACS),
        (lambda L: L.GRU(U, reset_after=False), GRU_MACS),
        (lambda L: L.SimpleRNN(U), SIMPLE_MACS),
        (lambda L: L.RNN(L.LSTMCell(U)), LSTM_MACS),
        # stacked cells: the second LSTM cell reads the first one's 8 units: 4·4·(8+4) per step
        (lambda L: L.RNN([L.LSTMCell(U), L.LSTMCell(4)]), LSTM_MACS + B * T * 4 * 4 * (U + 4)),
        # both directions over the whole sequence, whatever the merge
        (lambda L: L.Bidirectional(L.LSTM(U, return_sequences=True)), 2 * LSTM_MACS),
        (lambda L: L.Bidirectional(L.GRU(U), merge_mode="sum"), 2 * GRU_MACS),
        (lambda L: L.Bidirectional(L.SimpleRNN(U), merge_mode="mul"), 2 * SIMPLE_MACS),
        # TimeDistributed(Dense(4)): every (sample, step) is one 3 → 4 projection
        (lambda L: L.TimeDistributed(L.Dense(4)), B * T * D * 4),
        (lambda L: L.Embedding(300, 16), 0),  # a lookup: no multiplication
    ],
    ids=[
        "lstm",
        "lstm-sequences",
        "gru-reset-after",
        "gru-reset-before",
        "simple-rnn",
        "rnn-lstm-cell",
        "stacked-cells",
        "bidirectional-lstm",
        "bidirectional-gru-sum",
        "bidirectional-rnn-mul",
        "time-distributed-dense",
        "embedding",
    ],
)
def test_sequence_layer_macs(make, expected):
    row = trace_layer(make, (T, D), batch=2)
    assert row.macs == expected


def test_gru_reset_after_changes_biases_not_macs():
    # reset_after=True keeps a second (recurrent) bias: 2 × 3u biases instead of 3u.
    weights = 3 * U * D + 3 * U * U  # kernel + recurrent kernel = 72 + 192
    after = trace_layer(lambda L: L.GRU(U, reset_after=True), (T, D), batch=2)
    before = trace_layer(lambda L: L.GRU(U, reset_after=False), (T, D), batch=2)
    assert (after.params, before.params) == (weights + 2 * 3 * U, weights + 3 * U)
    assert after.macs == before.macs == GRU_MACS


def test_time_distributed_conv_uses_the_inner_rule():
    # 2 samples × 4 frames, each a 6×6×3 image through Conv2D(5, 3, same): 36 positions × 3·3·3·5.
    row = trace_layer(lambda L: L.TimeDistributed(L.Conv2D(5, 3, padding="same")), (4, 6, 6, 3), batch=2)
    assert row.macs == 2 * 4 * 36 * (3 * 3 * 3 * 5)


def test_conv_lstm_counts_both_convolutions_at_every_step():
    # ConvLSTM2D(4 filters, 3×3) on 3 frames of 6×6×2, "same": per step and position
    # 3·3·2·(4·4) input-kernel + 3·3·4·(4·4) recurrent-kernel multiplies.
    row = trace_layer(lambda L: L.ConvLSTM2D(4, 3, padding="same"), (3, 6, 6, 2), batch=2)
    assert row.macs == 2 * 3 * 36 * (9 * 2 * 16 + 9 * 4 * 16)


@pytest.mark.parametrize(
    "make, shape, expected",
    [
        # Conv1DTranspose(5, 3, strides=2): each of the 6 input positions meets a 3·4·5 kernel
        (lambda L: L.Conv1DTranspose(5, 3, strides=2), (6, 4), 2 * 6 * 3 * 4 * 5),
        # Conv2DTranspose(3, 3, strides=2): 4×4 input positions × 3·3·4·3
        (lambda L: L.Conv2DTranspose(3, 3, strides=2, padding="same"), (4, 4, 4), 2 * 16 * 9 * 4 * 3),
        (lambda L: L.Conv3DTranspose(2, 2, strides=2), (2, 2, 2, 3), 2 * 8 * 8 * 3 * 2),
        # EinsumDense as MultiHeadAttention builds its projections: 7 positions × 3 → (2 heads × 4)
        (lambda L: L.EinsumDense("abc,cde->abde", output_shape=(None, 2, 4)), (7, 3), 2 * 7 * 3 * 2 * 4),
        # with an ellipsis: every leading position × 3·6
        (lambda L: L.EinsumDense("...b,bc->...c", output_shape=6), (7, 3), 2 * 7 * 3 * 6),
        # Dense on a sequence: every step × 3·4
        (lambda L: L.Dense(4), (7, 3), 2 * 7 * 3 * 4),
    ],
    ids=[
        "conv1d-transpose",
        "conv2d-transpose",
        "conv3d-transpose",
        "einsum-heads",
        "einsum-ellipsis",
        "dense-sequence",
    ],
)
def test_projection_macs(make, shape, expected):
    assert trace_layer(make, shape, batch=2).macs == expected


def _mha_counts(t_q, d_q, t_v, d_v, heads, key_dim, value_dim, d_out, batch=1):
    """MultiHeadAttention by the paper's definition, written out term by term."""
    q_proj = t_q * d_q * heads * key_dim
    k_proj = t_v * d_v * heads * key_dim  # the key defaults to the value
    v_proj = t_v * d_v * heads * value_dim
    scores = heads * t_q * t_v * key_dim  # QKᵀ
    weighted = heads * t_q * t_v * value_dim  # AV
    out_proj = t_q * heads * value_dim * d_out
    return batch * (q_proj + k_proj + v_proj + scores + weighted + out_proj)


def test_self_attention_macs():
    row = trace_layer(lambda L: lambda x: L.MultiHeadAttention(num_heads=2, key_dim=4)(x, x), (5, 8), batch=2)
    # 2 × (5·8·2·4 ×3 + 2·5·5·4 + 2·5·5·4 + 5·2·4·8) = 2 × (960 + 200 + 200 + 320) = 3,360
    assert row.macs == _mha_counts(5, 8, 5, 8, 2, 4, 4, 8, batch=2) == 3360


def test_cross_attention_with_different_lengths_and_value_dim():
    make = lambda L: L.MultiHeadAttention(num_heads=2, key_dim=4, value_dim=3)  # noqa: E731
    row = trace_layer(make, (5, 8), (7, 6), batch=2)
    # q 5·8·2·4=320, k 7·6·2·4=336, v 7·6·2·3=252, QKᵀ 2·5·7·4=280, AV 2·5·7·3=210, out 5·2·3·8=240
    assert row.macs == _mha_counts(5, 8, 7, 6, 2, 4, 3, 8, batch=2) == 2 * 1638


def test_attention_over_one_axis_of_a_grid():
    # (3 rows × 5 columns × 8) attending along the columns only: each row is its own sequence.
    make = lambda L: lambda x: L.MultiHeadAttention(num_heads=2, key_dim=4, attention_axes=(2,))(x, x)  # noqa: E731
    row = trace_layer(make, (3, 5, 8), batch=1)
    projections = 4 * (15 * 8 * 2 * 4)  # Q, K, V, output: 15 positions × 64 each
    products = 3 * 2 * 5 * 5 * (4 + 4)  # per row and head: 5 × 5 scores and weighted sums of 4
    assert row.macs == projections + products


def test_attention_called_with_keywords_counts_the_same():
    keras.backend.clear_session()
    q, v = keras.Input((5, 8), name="q"), keras.Input((7, 6), name="v")
    mha = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4, value_dim=3)
    row = _trace(keras.Model([q, v], mha(query=q, value=v))).layers[-1]
    assert row.macs == _mha_counts(5, 8, 7, 6, 2, 4, 3, 8)


def test_grouped_query_attention_macs():
    def make(L):
        return lambda x: L.GroupQueryAttention(
            head_dim=4,
            num_query_heads=4,
            num_key_value_heads=2,
        )(x, x)

    row = trace_layer(make, (5, 8), batch=2)
    # q 5·8·4·4=640, k and v 5·8·2·4=320 each, QKᵀ and AV 4·5·5·4=400 each, out 5·4·4·8=640
    assert row.macs == 2 * (640 + 320 + 320 + 400 + 400 + 640)


def test_matrix_products_between_activations():
    keras.backend.clear_session()
    a, b = keras.Input((5, 8), name="a"), keras.Input((8, 3), name="b")
    product = keras.ops.matmul(a, b)  # (5, 3) outputs, each a sum over 8
    dot = keras.layers.Dot(axes=2)([a, keras.ops.transpose(b, (0, 2, 1))])
    trace = _trace(keras.Model([a, b], [product, dot]))
    by_type = {row.type: row.macs for row in trace.layers}
    assert by_type["Matmul"] == by_type["Dot"] == 5 * 3 * 8


# --- unknown costs ----------------------------------------------------------------------------


def _register():

    class LearnedMix(keras.layers.Layer):
        """A user layer that owns its weights (add_weight) and no sublayers: its cost is unknown."""

        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.mix = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform")

        def call(self, x):
            # The ``@`` operator: a product shapetrace cannot see (``keras.ops.matmul`` is counted).
            return keras.ops.tanh(x @ self.mix)

    return LearnedMix


def _model_with_unknown_layer():
    keras.backend.clear_session()
    layers = keras.layers
    inputs = keras.Input((16,), name="features")
    x = layers.Dense(8, name="embed")(inputs)
    x = _register()(4, name="mix")(x)
    outputs = layers.Dense(2, name="head")(x)
    return keras.Model(inputs, outputs, name="mixer")


def test_a_layer_with_weights_and_no_rule_is_unknown_never_zero(golden):
    from shapetrace.render.costs import cost_footer
    from shapetrace.render.table import trace_table
    from shapetrace.tracing.selection import View

    trace = _trace(_model_with_unknown_layer())
    mix = next(row for row in trace.layers if row.name == "mix")
    assert mix.params == 8 * 4 and mix.macs is None
    totals = totals_of(trace)
    assert not totals.complete and totals.unknown_layers == 1 and totals.reached_end
    assert totals.macs == 16 * 8 + 4 * 2  # the known rows only
    data = json.loads(json.dumps(trace_document(trace)))
    assert data["costs"]["complete"] is False and data["costs"]["unknown_layers"] == 1
    assert next(l for l in data["layers"] if l["name"] == "mix")["macs"] is None
    view = View.parse(columns="index,layer,type,actual,params,macs")
    table = render_plain(trace_table(trace, view=view), width=120)
    footer = render_plain(cost_footer(totals), width=120)
    assert "│    ? │" in table  # the unknown row's MACs cell
    assert "136 + ?" in footer and "1 layer of unknown cost" in footer
    text = table + "\n" + footer  # the verdict's prose is not this test's business
    golden("costs_unknown_table.txt", text)
    document = view.trace_dict(trace)
    golden("costs_unknown_trace.json", stable_json({key: document[key] for key in ("layers", "costs")}))


def test_a_collapsed_block_with_an_unknown_row_stays_unknown():
    from shapetrace.tracing.selection import collapse_depth

    inner = _model_with_unknown_layer()
    inputs = keras.Input((16,), name="outer_in")
    outer = keras.Model(inputs, keras.layers.Dense(3, name="outer_head")(inner(inputs)), name="outer")
    trace = _trace(outer)
    collapsed = {row.name: row for row in collapse_depth(trace.layers, 0)}
    assert collapsed["mixer"].macs is None and collapsed["mixer"].params == 16 * 8 + 8 + 32 + 4 * 2 + 2
    assert collapsed["outer_head"].macs == 2 * 3


def test_layers_without_weights_stay_zero():
    # Pooling, activations, reshapes: nothing to multiply by, so 0 — not unknown.
    keras.backend.clear_session()
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.MaxPooling2D()(inputs)
    x = keras.layers.Activation("relu")(x)
    x = keras.layers.Reshape((48,))(x)
    trace = _trace(keras.Model(inputs, x))
    assert [row.macs for row in trace.layers[1:]] == [0, 0, 0]
    assert totals_of(trace).complete


# --- whole models -----------------------------------------------------------------------------


def _forecaster():
    """keras.io's weather forecaster made bidirectional, with TimeDistributed heads (120 steps × 7)."""
    keras.backend.clear_session()
    layers = keras.layers
    inputs = keras.Input((120, 7), name="weather")
    x = layers.Bidirectional(layers.LSTM(64, return_sequences=True))(inputs)
    x = layers.Bidirectional(layers.GRU(32, return_sequences=True))(x)
    x = layers.TimeDistributed(layers.Dense(16, activation="relu"))(x)
    outputs = layers.TimeDistributed(layers.Dense(1))(x)
    return keras.Model(inputs, outputs, name="forecaster")


def test_bidirectional_forecaster_total_is_the_sum_of_hand_counts():
    trace = _trace(_forecaster())
    steps = 120
    bi_lstm = 2 * steps * 4 * 64 * (7 + 64)  # 4,362,240: two directions × 4 gates
    bi_gru = 2 * steps * 3 * 32 * (128 + 32)  # 3,686,400: reads the 2 × 64 concatenated features
    head = steps * 64 * 16  # 122,880
    out = steps * 16 * 1  # 1,920
    assert [row.macs for row in trace.layers[1:]] == [bi_lstm, bi_gru, head, out]
    totals = totals_of(trace)
    assert totals.complete and totals.unknown_layers == 0
    assert totals.macs == bi_lstm + bi_gru + head + out == 8_173_440


def _text_transformer(maxlen=40, vocab=1000, dim=32, heads=2, ff=32):
    """keras.io's text-classification Transformer, written functionally with built-in layers."""
    keras.backend.clear_session()
    layers = keras.layers
    tokens = keras.Input((maxlen,), dtype="int32", name="tokens")
    x = layers.Embedding(vocab, dim, name="token_emb")(tokens)
    attention = layers.MultiHeadAttention(num_heads=heads, key_dim=dim, name="attention")(x, x)
    x = layers.LayerNormalization(epsilon=1e-6, name="norm1")(layers.Add()([x, attention]))
    ffn = layers.Dense(ff, activation="relu", name="ffn_in")(x)
    ffn = layers.Dense(dim, name="ffn_out")(ffn)
    x = layers.LayerNormalization(epsilon=1e-6, name="norm2")(layers.Add()([x, ffn]))
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dense(20, activation="relu", name="hidden")(x)
    outputs = layers.Dense(2, activation="softmax", name="classes")(x)
    return keras.Model(tokens, outputs, name="text_transformer")


def test_text_transformer_counts_attention_and_its_feed_forward():
    trace = _trace(_text_transformer())
    t, d, h = 40, 32, 2
    attention = 4 * (t * d * h * d) + 2 * (h * t * t * d)  # 4 projections 327,680 + QKᵀ, AV 204,800
    ffn = 2 * t * d * 32  # 81,920
    classifier = 32 * 20 + 20 * 2  # 680: all the report counted
    by_name = {row.name: row.macs for row in trace.layers}
    assert by_name["attention"] == attention and by_name["token_emb"] == 0
    assert by_name["norm1"] == by_name["norm2"] == 0
    totals = totals_of(trace)
    assert totals.complete and totals.macs == attention + ffn + classifier == 615_080


# --- blocks: a collapsed nested model and the recorder's opened custom layers ------------------


def test_a_collapsed_block_costs_the_sum_of_its_sublayers():
    from shapetrace.tracing.selection import collapse_depth

    keras.backend.clear_session()
    layers = keras.layers
    tokens = keras.Input((10, 32), name="tokens")
    x = layers.Dense(64, activation="relu", name="up")(tokens)
    block = keras.Model(tokens, layers.Dense(48, name="down")(x), name="ffn_block")
    inputs = keras.Input((10, 32), name="outer_in")
    trace = _trace(keras.Model(inputs, block(inputs), name="outer"))
    collapsed = {row.name: row for row in collapse_depth(trace.layers, 0)}
    assert collapsed["ffn_block"].macs == 10 * 32 * 64 + 10 * 64 * 48  # 20,480 + 30,720


def test_an_opened_layer_counts_only_what_its_sublayers_do_not():
    """The call recorder's container rows: ``own_params`` are the weights no sublayer row owns."""
    from shapetrace.tracing.costs import count_macs, layer_cost

    class TalkingHeads(keras.layers.MultiHeadAttention):  # a user's subclass: opened by the recorder
        pass

    mha = TalkingHeads(num_heads=2, key_dim=4)
    x = keras.ops.ones((1, 5, 8))
    mha(x, x)
    # Its projections are recorded as EinsumDense rows of their own; the row keeps QKᵀ and AV.
    assert count_macs(mha, ((1, 5, 8), (1, 5, 8)), (1, 5, 8), own_params=0) == 2 * 5 * 5 * 4 * 2
    learned = _register()(4)
    learned(keras.ops.ones((1, 8)))
    cost = layer_cost(learned, ((1, 8),), (1, 4), 16, shared=False, own_params=(32, 0))
    assert (cost.trainable_params, cost.macs) == (32, None)  # weights of its own: unknown
    container = keras.layers.Layer()
    assert count_macs(container, ((1, 8),), (1, 8), own_params=0) == 0  # all work in its sublayers
