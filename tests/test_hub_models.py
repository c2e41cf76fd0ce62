"""Models as Keras users get them now: KerasHub backbones (dict inputs), structured-data dict models,
subclassed models with several inputs, custom layers that multiply with ``keras.ops``.

Every figure is checked against a fact computed without shapetrace: the shapes of a plain call
with the same dict, ``count_params()``, MACs counted by hand (the arithmetic is in the comments)
or, under JAX, from the operations a plain call really runs (``tests/op_count.py``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import hub_models as hm
import numpy as np
import pytest
from conftest import render_plain, run_fresh

from shapetrace.api import trace
from shapetrace.errors import UsageError
from shapetrace.render.costs import cost_footer
from shapetrace.render.table import trace_table
from shapetrace.tracing import _keras_graph as kg
from shapetrace.tracing.costs import totals_of
from shapetrace.tracing.explain import verdict_text
from shapetrace.tracing.probes import feed_arguments, make_probes

keras = kg.keras
HUB_MODELS = Path(__file__).parent / "hub_models.py"
# Kept in the default run; the other backbones are marked slow.
DEFAULT_HUB = ("bert", "vit")


def _feed(model, inputs=None):
    """The probe arrays as shapetrace makes them, packed as a user passes them."""
    probes, arrays = make_probes(model, channels=None, size=None, batch=1, inputs=inputs or None)
    return feed_arguments(model, probes, arrays)


def _plain_layer_shapes(model, feed) -> dict[str, tuple]:
    """Each top-level layer's output shape in a plain call of the model on ``feed`` (Keras alone)."""
    wanted = {
        layer.name: layer.output
        for layer in model.layers
        if not isinstance(layer, keras.layers.InputLayer)
        and len(layer._inbound_nodes) == 1
        and not isinstance(layer.output, (list, tuple, dict))
    }
    extractor = keras.Model(model.input, wanted)
    outputs = extractor(feed, training=False)
    return {name: tuple(value.shape) for name, value in outputs.items()}


def _check_against_plain_call(model, t, feed) -> None:
    assert t.verdict == "ok" and t.boundary.accepted and t.broken is None
    rows = {row.path: row for row in t.layers}
    plain = _plain_layer_shapes(model, feed)
    assert plain
    for name, shape in plain.items():
        assert rows[f"{model.name}/{name}"].output == shape, name
    assert t.total_params == model.count_params()
    assert sum(r.params for r in t.layers) == model.count_params()


@pytest.mark.parametrize(
    "name", [n if n in DEFAULT_HUB else pytest.param(n, marks=pytest.mark.slow) for n in hm.HUB_MODELS]
)
def test_hub_backbone_traces_like_a_plain_call(name):
    factory, inputs = hm.HUB_MODELS[name]
    model = factory()
    t = trace(model, inputs=inputs or None)
    (feed,), _ = _feed(model, inputs)
    _check_against_plain_call(model, t, feed)
    if isinstance(feed, dict):  # fed by key, named by key
        assert sorted(p.name for p in t.probes) == sorted(feed)
    totals = totals_of(t)
    # Exact on every backbone here (checked against the operations JAX runs in the slow test below).
    assert totals.complete and totals.unknown_layers == 0 and totals.macs > 0


def test_bert_cli_exit_0_and_header_names_every_probe(cli):
    args = ["--input", "token_ids=8", "--input", "segment_ids=8", "--input", "padding_mask=8"]
    code, out, err = cli("trace", f"{HUB_MODELS}:bert", *args, "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["verdict"] == "ok" and data["costs"]["complete"] is True
    code, out, err = cli("trace", f"{HUB_MODELS}:bert", *args)
    assert code == 0
    title = out.splitlines()[0]
    assert all(f"{name} (1, 8)" in title for name in ("token_ids", "segment_ids", "padding_mask"))


def test_structured_data_dict_model():
    model = hm.structured_data()
    t = trace(model)
    (feed,), _ = _feed(model)
    assert isinstance(feed, dict) and set(feed) == {"age", "thal", "chol", "ca"}
    _check_against_plain_call(model, t, feed)
    assert {p.name: p.kind for p in t.probes} == {
        "age": "features",
        "chol": "features",
        "thal": "tokens",
        "ca": "tokens",
    }
    # hidden: (2 numeric + 4 embedded + 4 one-hot) × 32 = 320; out: 32 × 1 = 32.
    assert totals_of(t).macs == 352 and totals_of(t).complete
    assert tuple(t.layers[-1].output) == tuple(model(feed).shape)


def test_dict_model_refuses_a_list_naming_its_keys_and_the_sorted_key_trap():
    with pytest.raises(UsageError) as caught:
        trace(hm.structured_data(), inputs="1")
    message = str(caught.value)
    assert "'age', 'thal', 'chol', 'ca'" in message  # the order it declares
    assert "sorted key ('age', 'ca', 'chol', 'thal')" in message
    with pytest.raises(UsageError, match="no input named 'x'.*keys 'age'"):
        trace(hm.structured_data(), inputs={"x": (1,)})


# --- subclassed models with several inputs -------------------------------------------------
IMAGE = np.random.default_rng(0).random((1, 32, 32, 3), dtype=np.float32)
META = np.random.default_rng(1).random((1, 8), dtype=np.float32)
# conv: 30×30 outputs × 4 filters × (3×3×3) = 97,200; meta_dense 8×4 = 32; head 8×2 = 16.
IMAGE_AND_META_MACS = 97_200 + 32 + 16


def _called(cls):
    model = cls()
    if cls is hm.ImageAndMeta:
        return model, model(IMAGE, META)
    return model, model({"image": IMAGE, "meta": META})


@pytest.mark.parametrize("cls", [hm.ImageAndMeta, hm.DictInputs])
@pytest.mark.parametrize("how", ["inputs", "first_call"])
def test_subclassed_several_inputs(cls, how):
    if how == "inputs":
        model = cls()
        t = trace(model, inputs={"image": (32, 32, 3), "meta": (8,)})
        expected = model(IMAGE, META) if cls is hm.ImageAndMeta else model({"image": IMAGE, "meta": META})
    else:
        model, expected = _called(cls)
        t = trace(model)
    assert t.verdict == "ok", t.broken
    assert [(p.name, p.shape, p.kind) for p in t.probes] == [
        ("image", (1, 32, 32, 3), "image"),
        ("meta", (1, 8), "features"),
    ]
    assert t.layers[0].output == tuple(expected.shape)
    by_name = {row.name: row for row in t.layers}
    assert by_name["conv"].output == (1, 30, 30, 4) and by_name["meta_dense"].output == (1, 4)
    assert t.total_params == model.count_params() == sum(r.params for r in t.layers)
    assert totals_of(t).macs == IMAGE_AND_META_MACS and totals_of(t).complete


def test_subclassed_cli_inputs_by_argument_name(cli):
    code, out, err = cli(
        "trace", f"{HUB_MODELS}:ImageAndMeta", "--input", "image=32x32x3", "--input", "meta=8"
    )
    assert code == 0, err
    assert "image (1, 32, 32, 3), meta (1, 8)" in out.splitlines()[0]


def test_unbuilt_subclassed_model_names_what_it_needs():
    with pytest.raises(UsageError, match="its call takes 'image', 'meta'.*inputs\\['meta'\\]=SHAPE"):
        trace(hm.ImageAndMeta())


def test_break_says_its_real_reason_not_fitting_shapes():
    t = trace(hm.ImageAndMeta(), inputs={"image": (32, 32, 3)})
    assert t.verdict == "broken" and t.broken is not None
    assert t.broken.cause == "call" and "missing a required argument: 'meta'" in t.broken.summary
    text = render_plain(trace_table(t))
    assert "missing a required argument: 'meta'" in text and "received" not in text
    assert "missing a required argument: 'meta'" in verdict_text(t)
    assert "received" not in verdict_text(t)
    assert "(layers up to the break)" in render_plain(cost_footer(totals_of(t)))


def test_footer_speaks_of_a_break_only_when_something_broke():
    t = trace(hm.custom_ops())
    assert "(layers up to the break)" not in render_plain(cost_footer(totals_of(t)))


# --- every multiply counted ---------------------------------------------------------------
def test_keras_ops_contractions_in_custom_layers_are_counted():
    t = trace(hm.custom_ops())
    macs = {row.name: row.macs for row in t.layers}
    assert macs["gate"] == 5 * 6 * 4  # 120: (5 steps × 6) × 4 experts
    # ops.einsum btd,edu->bteu: 5 × 6 × 4 × 8 = 960; bteu,bte->btu: 5 × 4 × 8 = 160.
    assert macs["moe"] == 960 + 160
    assert macs["q"] == macs["k"] == macs["v"] == 5 * 8 * 8  # 320 each
    # ops.matmul (5×8)·(8×5): 25 × 8 = 200; ops.einsum bts,bsd->btd: 5 × 5 × 8 = 200.
    assert macs["attention"] == 200 + 200
    assert macs["norm"] == 0  # a scale vector: element-wise, like LayerNormalization
    totals = totals_of(t)
    assert totals.complete and totals.macs == 120 + 1120 + 3 * 320 + 400


def test_a_weight_used_where_shapetrace_cannot_see_is_unknown_not_zero():
    inputs = keras.Input((4,))
    t = trace(keras.Model(inputs, hm.MatrixScale(name="scale")(inputs)))
    assert t.layers[-1].macs is None
    assert not totals_of(t).complete and totals_of(t).unknown_layers == 1


def test_ops_are_restored_after_a_trace():
    before = (keras.ops.einsum, keras.ops.matmul, keras.src.ops.einsum)
    trace(hm.custom_ops())
    assert (keras.ops.einsum, keras.ops.matmul, keras.src.ops.einsum) == before


# --- the probe's kind from what takes the input -------------------------------------------
@pytest.mark.parametrize("embedding", ["patch", "clip"])
def test_vision_embeddings_are_probed_as_images(embedding):
    model = hm.vision_embedding_model(embedding)
    t = trace(model)
    assert t.verdict == "ok" and t.probe.kind == "image"
    assert t.layers[-1].output == tuple(model(IMAGE).shape)
    # Patch Conv2D: 4×4 patches × 16 filters × (8×8×3) = 49,152; head 16 × 2 = 32.
    assert totals_of(t).macs == 49_152 + 32 and totals_of(t).complete
    story = verdict_text(t)
    assert "token" not in story and ("`patch`" in story or "`projection`" in story), story
    one = trace(model, channels=1)  # traced, not refused: the Conv2D was built for 3 channels
    assert one.probe.shape == (1, 32, 32, 1) and one.probe.kind == "image"
    assert one.broken is not None and one.broken.cause == "shape"


@pytest.mark.parametrize("name", ["vit", "clip_vision"])
def test_hub_vision_backbones_take_channels(name):
    t = trace(hm.HUB_MODELS[name][0](), channels=1)
    assert t.probe.kind == "image" and t.probe.shape == (1, 32, 32, 1)


# --- an independent op-level count (JAX) --------------------------------------------------
JAX_CHECK = """
import sys, json
sys.path.insert(0, sys.argv[1])
import hub_models as hm, op_count
from shapetrace.api import trace
from shapetrace.tracing.costs import totals_of
from shapetrace.tracing.probes import feed_arguments, make_probes
found = {}
models = {**{n: (f, s) for n, (f, s) in hm.HUB_MODELS.items()},
          "custom_ops": (hm.custom_ops, {}), "structured": (hm.structured_data, {}),
          "vit_patch": (hm.vision_embedding_model, {})}
for name, (factory, inputs) in models.items():
    model = factory()
    t = trace(model, inputs=inputs or None)
    probes, arrays = make_probes(model, channels=None, size=None, batch=1, inputs=inputs or None)
    (feed,), _ = feed_arguments(model, probes, arrays)
    found[name] = [totals_of(t).macs, totals_of(t).complete, op_count.jax_macs(model, feed),
                   op_count.xla_flops(model, feed)]
print(json.dumps(found))
"""


@pytest.mark.slow
def test_macs_equal_the_operations_jax_runs():
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    done = run_fresh([JAX_CHECK, str(Path(__file__).parent)], env=env, module=False, timeout=900)
    assert done.code == 0, done.err
    found = json.loads(done.out.strip().splitlines()[-1])
    assert len(found) >= 5
    for name, (macs, complete, jax_macs, flops) in found.items():
        assert complete, name
        assert macs == jax_macs, name
        # XLA counts 2 flops per MAC plus element-wise work (biases, softmax, norms).
        assert flops >= 2 * macs * 0.9, name


@pytest.mark.skipif(kg.backend_name() != "tensorflow", reason="string tensors are TensorFlow's")
def test_string_inputs_get_text_probes():
    model = hm.structured_strings()
    t = trace(model)
    assert t.verdict == "ok"
    assert {p.name: (p.kind, p.dtype) for p in t.probes} == {
        "thal": ("text", "string"),
        "age": ("features", "float32"),
        "sex": ("tokens", "int64"),
    }
    # thal one-hot: 3 words + out-of-vocabulary = 4; sex: 2 + 1 = 3; age 1: (4 + 3 + 1) × 1 = 8.
    assert totals_of(t).macs == 8 and totals_of(t).complete
    assert t.layers[-1].output == (1, 1)


def test_the_story_follows_the_input_whose_axis_changes_first():
    factory, inputs = hm.HUB_MODELS["whisper"]
    t = trace(factory(), inputs=inputs)
    story = verdict_text(t)
    # Whisper's first probe (sorted keys) is the decoder's padding mask; the first change is the
    # audio frames' Conv1D: 16 mel channels become 32.
    assert "token ids" not in story and "`encoder_token_embedding_conv_layer_1`" in story, story
    assert "16 channels" in story
