"""The story, reproduced exactly: EfficientNetB5 takes 1 channel, ResNet50 does not."""

from __future__ import annotations

import numpy as np
import pytest
from toy_models import story_model, toy_model

import shapetrace
from shapetrace.tracing.explain import verdict_text
from shapetrace.tracing.report import trace_document


@pytest.fixture(scope="module")
def effnet_trace():
    return shapetrace.trace("efficientnetb5", channels=1, size=(128, 128))


def _row(trace, name):
    return next(row for row in trace.layers if row.name == name)


def test_efficientnetb5_gray_probe_becomes_three_channels_at_normalization(effnet_trace):
    t = effnet_trace
    assert t.verdict == "ok" and t.boundary.accepted and t.broken is None
    assert t.probe.shape == (1, 128, 128, 1)
    rescaling, normalization, pad = _row(t, "rescaling"), _row(t, "normalization"), _row(t, "stem_conv_pad")
    assert (rescaling.channels_in, rescaling.channels_out) == (1, 1)
    assert (normalization.channels_in, normalization.channels_out) == (1, 3)
    assert normalization.output == (1, 128, 128, 3)
    assert normalization.mechanism == "broadcast"
    assert "mean of shape (1, 1, 1, 3)" in normalization.why
    assert (pad.channels_in, pad.channels_out) == (3, 3)
    # The first change of all is the broadcast, before any conv.
    assert t.changes[0].name == "normalization"


def test_static_inference_disagrees_only_where_the_broadcast_happens(effnet_trace):
    t = effnet_trace
    normalization = _row(t, "normalization")
    assert normalization.static_output == (1, 128, 128, 1)
    assert [row.name for row in t.static_disagreements] == ["normalization"]
    # Keras's graph declares 3 channels everywhere: rows before the broadcast differ from it.
    assert _row(t, "rescaling").differs_from_declared
    assert not normalization.differs_from_declared


def test_verdict_tells_the_story(effnet_trace):
    text = verdict_text(effnet_trace)
    assert "1 channel becomes 3 at `normalization` (Normalization)" in text
    assert "mean of shape (1, 1, 1, 3)" in text
    assert "static shape inference disagrees" in text


def test_params_per_row_add_up_to_the_model_total(effnet_trace):
    assert sum(row.params for row in effnet_trace.layers) == effnet_trace.total_params


def test_trace_matches_a_plain_model_call():
    from shapetrace.tracing._keras_graph import keras

    keras.backend.clear_session()
    model = keras.applications.EfficientNetB0(include_top=False, weights=None, input_shape=(64, 64, 3))
    t = shapetrace.trace_model(model, channels=1)
    x = np.random.default_rng(0).uniform(0, 255, (1, 64, 64, 1)).astype("float32")
    assert tuple(model(x).shape) == t.layers[-1].output


def test_resnet50_breaks_at_its_first_conv():
    t = shapetrace.trace("resnet50", channels=1, size=(64, 64))
    assert t.verdict == "broken" and t.boundary.accepted
    assert t.broken.layer == "resnet50/conv1_conv"
    assert t.broken.type == "Conv2D"
    assert t.broken.expected == "(None, 70, 70, 3)"
    assert t.broken.received == "(1, 70, 70, 1)"
    assert "\n" not in t.broken.message and "expected axis -1" in t.broken.message
    assert t.layers[-1].failed and t.layers[-1].name == "conv1_conv"
    assert [row.name for row in t.layers] == ["input_layer", "conv1_pad", "conv1_conv"]


# 1 (squeezed, passes) and 2 (refused) in the default run; 3 and 4 repeat those outcomes (slow).
@pytest.mark.parametrize(
    "channels", [1, 2, pytest.param(3, marks=pytest.mark.slow), pytest.param(4, marks=pytest.mark.slow)]
)
@pytest.mark.parametrize("app", ["EfficientNetB0", "ResNet50"])
def test_boundary_verdict_matches_what_keras_itself_does(app, channels):
    """Keras squeezes a trailing 1 before checking the input: 1 passes, 2 and 4 do not."""
    from shapetrace.messages import one_line
    from shapetrace.tracing._keras_graph import keras

    keras.backend.clear_session()
    model = getattr(keras.applications, app)(include_top=False, weights=None, input_shape=(32, 32, 3))
    t = shapetrace.trace_model(model, channels=channels)
    x = np.random.default_rng(0).uniform(0, 255, (1, 32, 32, channels)).astype("float32")
    try:
        y = model(x)
        error = None
    except Exception as exc:  # what the real call says
        error = one_line(exc)
    if error is None:
        assert t.ok and t.layers[-1].output == tuple(y.shape)
    elif not t.boundary.accepted:
        assert t.boundary.reason == error
    else:
        assert t.broken is not None and t.broken.message == error
    assert t.boundary.accepted == (channels in (1, 3))


def test_native_builds_the_model_for_the_probe_channels():
    t = shapetrace.trace("resnet50", channels=1, size=(32, 32), native=True)
    assert t.ok
    assert t.probe.declared == (None, 32, 32, 1)
    conv = _row(t, "conv1_conv")
    assert (conv.channels_in, conv.channels_out) == (1, 64)


def test_nested_story_model_is_expanded_with_paths():
    model = story_model()
    t = shapetrace.trace_model(model, channels=1)
    paths = [row.path for row in t.layers]
    assert "sequential/efficientnetb5/normalization" in paths
    assert paths[-2:] == ["sequential/flatten", "sequential/dense"]
    norm = next(r for r in t.layers if r.path == "sequential/efficientnetb5/normalization")
    assert norm.depth == 1 and norm.output == (1, 84, 112, 3)
    assert t.layers[-1].output == (1, 9)
    assert sum(row.params for row in t.layers) == model.count_params()


def test_nested_model_rejecting_its_input_is_the_break():
    from shapetrace.tracing._keras_graph import keras

    keras.backend.clear_session()
    inner = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 1)], name="inner")
    inputs = keras.Input((8, 8, 2))
    outer = keras.Model(inputs, inner(keras.layers.Conv2D(3, 1, name="widen")(inputs)), name="outer")
    t = shapetrace.trace_model(outer, channels=2)
    assert t.ok
    bad = keras.Model(inputs, inner(keras.layers.Conv2D(3, 1, name="keep")(inputs)), name="bad")
    t = shapetrace.trace_model(bad, channels=4)  # rejected at bad's own boundary first
    assert not t.boundary.accepted and t.verdict == "broken"


def test_toy_model_names_every_mechanism():
    from shapetrace.tracing._keras_graph import keras

    keras.backend.clear_session()
    t = shapetrace.trace_model(toy_model(), channels=1)
    mechanisms = {row.name: row.mechanism for row in t.changes}
    assert mechanisms == {
        "norm": "broadcast",
        "stem": "conv",
        "squeeze": "conv",
        "depthwise": "depthwise",
        "concat": "concat",
        "flatten": "reshape",
        "logits": "dense",
    }
    concat = next(r for r in t.changes if r.name == "concat")
    assert concat.why == "concatenation of 2 inputs: 2 + 8 = 10"


def test_a_mechanism_that_was_not_detected_is_never_claimed():
    """A layer that changes channels in a way no rule can verify is 'other', with its shapes."""
    from shapetrace.tracing._keras_graph import keras

    keras.backend.clear_session()
    inputs = keras.Input((4, 4, 3))
    # Slicing drops a channel: neither conv, dense, concat, broadcast nor reshape.
    outputs = keras.layers.Lambda(lambda t: t[..., :2], name="slice")(inputs)
    t = shapetrace.trace_model(keras.Model(inputs, outputs), channels=3)
    (row,) = t.changes
    assert row.mechanism == "other" and row.why == "(1, 4, 4, 3) → (1, 4, 4, 2)"


def test_json_document_has_the_documented_keys(effnet_trace):
    data = trace_document(effnet_trace)
    assert data["schema"] == "shapetrace.trace/1"
    assert data["probe"] == {"shape": [1, 128, 128, 1], "channels": 1, "kind": "image"}
    assert data["boundary"] == {"accepted": True, "reason": None}
    assert data["verdict"] == "ok" and data["broken"] is None
    layer = data["layers"][2]
    for key in (
        "index",
        "path",
        "name",
        "type",
        "declared_output",
        "output",
        "channels_in",
        "channels_out",
        "params",
        "why",
    ):
        assert key in layer
    assert layer["declared_output"] == [None, 128, 128, 3]
    assert layer["output"] == [1, 128, 128, 3]
    assert [c["name"] for c in data["changes"]] == [r.name for r in effnet_trace.changes]
    assert all(c["channels_in"] != c["channels_out"] for c in data["changes"])


def test_streaming_engine_holds_less_than_every_activation(effnet_trace):
    total = sum(np.prod(row.output) * 4 for row in effnet_trace.layers)
    assert 0 < effnet_trace.peak_live_bytes < total / 4
