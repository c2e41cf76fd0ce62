"""Per-layer costs (params split, MACs, output bytes), the footer, and MACs against published figures."""

from __future__ import annotations

import json

import pytest
from conftest import render_plain, stable_json
from toy_models import trace_layer

from shapetrace.tracing._keras_graph import keras
from shapetrace.tracing.costs import format_bytes, format_count, totals_of
from shapetrace.tracing.report import trace_document


# Expected counts are written out by hand from each layer's definition, not from costs.py.
@pytest.mark.parametrize(
    "make, shape, expected",
    [
        # 2 × (8×8 outputs) × (3×3 kernel × 4 in × 6 filters)
        (lambda L: L.Conv2D(6, 3, padding="same"), (8, 8, 4), 2 * 64 * 9 * 4 * 6),
        # grouped: each of 6 filters sees 4/2 = 2 input channels
        (lambda L: L.Conv2D(6, 3, padding="same", groups=2), (8, 8, 4), 2 * 64 * 9 * 2 * 6),
        # strided, valid: 3×3 outputs
        (lambda L: L.Conv2D(5, 3, strides=2), (8, 8, 4), 2 * 9 * 9 * 4 * 5),
        # depthwise, multiplier 2: every output channel is one 3×3 window of one input channel
        (lambda L: L.DepthwiseConv2D(3, padding="same", depth_multiplier=2), (8, 8, 4), 2 * 64 * 9 * 8),
        # separable: depthwise (9 per channel) then pointwise 4 → 7
        (lambda L: L.SeparableConv2D(7, 3, padding="same"), (8, 8, 4), 2 * 64 * (9 * 4 + 4 * 7)),
        # transposed, stride 2: every input value meets a 3×3×3 kernel slice
        (lambda L: L.Conv2DTranspose(3, 3, strides=2, padding="same"), (4, 4, 4), 2 * 16 * 9 * 4 * 3),
        (lambda L: L.Conv1D(6, 5, padding="same"), (10, 4), 2 * 10 * 5 * 4 * 6),
        (lambda L: L.Conv3D(2, 3, padding="same"), (4, 4, 4, 3), 2 * 64 * 27 * 3 * 2),
        # dense on a feature map: every position is multiplied by the whole kernel
        (lambda L: L.Dense(5), (4, 4, 3), 2 * 16 * 3 * 5),
        (lambda L: L.EinsumDense("abc,cd->abd", output_shape=(None, 6)), (7, 3), 2 * 7 * 3 * 6),
        (lambda L: L.BatchNormalization(), (4, 4, 3), 0),
        (lambda L: L.MaxPooling2D(2), (4, 4, 3), 0),
    ],
    ids=[
        "conv",
        "grouped",
        "strided",
        "depthwise",
        "separable",
        "transpose",
        "conv1d",
        "conv3d",
        "dense-4d",
        "einsum",
        "batchnorm",
        "pooling",
    ],
)
def test_macs_per_layer(make, shape, expected):
    row = trace_layer(make, shape, batch=2)
    assert row.macs == expected


def test_multi_head_attention_macs():
    mha = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)
    keras.backend.clear_session()
    q = keras.Input((5, 8), name="q")
    v = keras.Input((7, 6), name="v")
    model = keras.Model([q, v], mha(q, v))
    import shapetrace

    row = shapetrace.trace_model(model).layers[-1]
    heads, key_dim, t_q, t_v = 2, 4, 5, 7
    projections = t_q * 8 * heads * key_dim + t_v * 6 * heads * key_dim + t_v * 6 * heads * key_dim
    attention = heads * t_q * t_v * key_dim * 2  # scores and weighted sum
    output = t_q * heads * key_dim * 8
    assert row.macs == projections + attention + output


def test_params_split_into_trainable_and_not():
    row = trace_layer(lambda L: L.BatchNormalization(), (4, 4, 3), batch=2)
    assert (row.trainable_params, row.non_trainable_params) == (6, 6)  # gamma, beta | moving mean, var
    frozen = keras.layers.Dense(4)
    frozen.trainable = False
    row = trace_layer(lambda L: frozen, (3,), batch=2)
    assert (row.trainable_params, row.non_trainable_params) == (0, 16)
    assert row.params == 16


def test_activation_bytes_are_the_outputs_float32_size():
    row = trace_layer(lambda L: L.Conv2D(6, 3, padding="same"), (8, 8, 4), batch=2)
    assert row.activation_bytes == 2 * 8 * 8 * 6 * 4


@pytest.fixture(scope="module")
def efficientnet_trace():
    import shapetrace

    return shapetrace.trace("efficientnetb0", channels=1, size=(32, 32))


def test_per_layer_params_add_up_to_the_model_total(efficientnet_trace):
    trace = efficientnet_trace
    assert trace.ok
    for row in trace.layers:
        assert row.trainable_params + row.non_trainable_params == row.params, row.path
    totals = totals_of(trace)
    assert totals.trainable_params + totals.non_trainable_params == trace.total_params
    assert totals.complete and totals.macs == sum(r.macs for r in trace.layers) > 0
    assert 0 < totals.peak_live_bytes < totals.activation_bytes


def test_json_carries_exact_costs(efficientnet_trace):
    data = json.loads(json.dumps(trace_document(efficientnet_trace)))
    costs = data["costs"]
    assert costs["macs"] == sum(layer["macs"] for layer in data["layers"])
    assert costs["trainable_params"] + costs["non_trainable_params"] == data["totals"]["params"]
    assert (
        costs["estimated_total_bytes"]
        == costs["input_bytes"] + costs["activation_bytes"] + costs["params_bytes"]
    )
    assert isinstance(costs["macs"], int)


def test_broken_trace_footer_says_it_is_partial():
    import shapetrace
    from shapetrace.render.costs import cost_footer

    trace = shapetrace.trace("resnet50", channels=1, size=(32, 32))
    totals = totals_of(trace)
    assert not totals.complete and totals.executed_params < trace.total_params
    text = render_plain(cost_footer(totals))
    assert "(layers up to the break)" in text and f"{trace.total_params:,}" in text


def test_readable_units():
    assert format_count(300_774_272) == "300.77M"
    assert format_count(3_857_973_248) == "3.86G"
    assert format_count(999) == "999"
    assert format_count(12_345) == "12.35K"
    assert format_bytes(8_610_000) == "8.61 MB"
    assert format_bytes(512) == "512 B"


# Published multiply-add counts for the architectures as the authors define them (with the
# classifier, 224×224, batch 1): MobileNetV2 300M (Sandler et al. 2018, Table 3), MobileNet 569M
# (Howard et al. 2017, Table 8), ResNet-50 3.8–4.1G (He et al. 2016 report 3.8·10⁹ "FLOPs" that
# are multiply-adds; torchvision 4.09G with the stride moved to 3×3), VGG-16 15.5G (Simonyan &
# Zisserman; widely tabulated as 15.5G MACs), EfficientNet-B0 0.39B (Tan & Le 2019, Table 2).
@pytest.mark.parametrize(
    "name, published",
    [
        ("mobilenetv2", 300e6),
        ("mobilenet", 569e6),
        ("resnet50", 3.9e9),
        ("vgg16", 15.5e9),
        ("efficientnetb0", 390e6),
    ],
)
def test_macs_match_published_figures(name, published):
    import shapetrace

    trace = shapetrace.trace(name, top=True)
    assert trace.ok
    macs = totals_of(trace).macs
    assert abs(macs - published) / published < 0.05, f"{name}: {macs:,} vs published {published:,.0f}"


def _golden_model():
    keras.backend.clear_session()
    layers = keras.layers
    inputs = keras.Input((16, 16, 3), name="image")
    x = layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False, name="stem")(inputs)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.DepthwiseConv2D(3, padding="same", name="dw")(x)
    x = layers.SeparableConv2D(16, 3, padding="same", name="sep")(x)
    x = layers.Conv2D(16, 3, padding="same", groups=4, name="grouped")(x)
    x = layers.Conv2DTranspose(4, 2, strides=2, name="up")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = layers.Dense(10, name="logits")(x)
    return keras.Model(inputs, outputs, name="costly")


def test_golden_cost_columns_and_footer(golden):
    import shapetrace
    from shapetrace.render.table import trace_report
    from shapetrace.tracing.selection import View

    trace = shapetrace.trace_model(_golden_model())
    view = View.parse(columns="index,layer,type,actual,params,trainable,non_trainable,macs,memory")
    text = render_plain(trace_report(trace, view=view, show_timing=False), width=160)
    golden("costs_table.txt", text)
    golden("costs_trace.json", stable_json(view.trace_dict(trace)))
