"""Probes for any model input: its kind, shape and dtype, valid token ids, and memory refused up front."""

from __future__ import annotations

import numpy as np
import pytest
import user_models as um

from shapetrace.api import trace_model
from shapetrace.errors import UsageError
from shapetrace.tracing import _keras_graph as kg
from shapetrace.tracing.probes import (
    MAX_DIM,
    describe_inputs,
    make_probes,
    probe_bytes,
    validate_probe_memory,
)

keras = kg.keras


def _model(shape, *make, dtype="float32"):
    """``Input(shape)`` through the layers ``make(keras.layers)``, in order."""
    inputs = keras.Input(shape, dtype=dtype, name="x")
    x = inputs
    for layer in make:
        x = layer(keras.layers)(x)
    return keras.Model(inputs, x)


def test_token_inputs_get_valid_ids_in_the_inputs_dtype():
    model = um.text_transformer()
    probes, arrays = make_probes(model, channels=None, size=None, batch=2)
    limit = min(layer.input_dim for layer in kg.sublayers(model) if type(layer).__name__ == "Embedding")
    assert probes[0].kind == "tokens" and probes[0].dtype == "float32" and arrays[0].dtype == np.float32
    assert arrays[0].min() >= 0 and arrays[0].max() < limit and np.all(arrays[0] == np.round(arrays[0]))

    ids = keras.Input((12,), dtype="int32", name="ids")
    int_model = keras.Model(ids, keras.layers.Embedding(50, 8)(ids))
    probes, arrays = make_probes(int_model, channels=None, size=None, batch=1)
    assert probes[0].dtype == "int32" and arrays[0].dtype == np.int32 and arrays[0].max() < 50
    assert trace_model(int_model).ok


def test_probe_made_in_the_inputs_dtype_never_float64():
    image = keras.Input((8, 8, 3), dtype="float16")
    half = keras.Model(image, keras.layers.Conv2D(2, 3, dtype="float16")(image))
    probes, arrays = make_probes(half, channels=None, size=None, batch=1)
    assert arrays[0].dtype == np.float16 and probes[0].dtype == "float16"


def test_size_sets_an_open_length_and_is_refused_on_a_fixed_one():
    ticket = trace_model(um.ticket_classifier(), size=(30, 30))
    assert [p.shape for p in ticket.probes] == [(1, 30), (1, 30), (1, 12)]
    with pytest.raises(UsageError, match="fixed length of 200"):
        trace_model(um.text_transformer(), size=(300, 300))
    with pytest.raises(UsageError, match="`channels` applies to image-like inputs"):
        trace_model(um.forecaster(), channels=3)
    with pytest.raises(UsageError, match="whose size is one length"):
        trace_model(um.ticket_classifier(), size=(30, 40))


def test_several_inputs_need_names():
    with pytest.raises(UsageError, match="names no input, but the model has 3"):
        trace_model(um.ticket_classifier(), inputs={"": (10,)})


def test_memory_check_is_pure_and_states_the_figure():
    need = probe_bytes((4096, 600, 600, 3), "float32")
    assert need == 4096 * 600 * 600 * 3 * 4
    validate_probe_memory(need, available=4 * need)  # fits: nothing raised
    with pytest.raises(UsageError, match=r"needs 17\.69 GB, more than half of the 16\.00 GB"):
        validate_probe_memory(need, available=16 * 10**9)
    validate_probe_memory(need, available=None)  # unknown memory: not refused on a guess


@pytest.mark.parametrize(
    "shape, make, dtype, kind",
    [
        ((8, 8, 3), [lambda L: L.Conv2D(2, 3)], "float32", "image"),
        ((8, 8, 3), [lambda L: L.Flatten()], "float32", "image"),  # by rank, whatever consumes it
        ((10, 7), [lambda L: L.Conv1D(4, 3)], "float32", "signal"),
        ((10, 7), [lambda L: L.LSTM(4)], "float32", "sequence"),
        ((5,), [lambda L: L.Dense(2)], "float32", "features"),
        ((5,), [lambda L: L.Dense(2)], "int32", "tokens"),
    ],
    ids=["conv2d", "flatten", "conv1d", "lstm", "dense", "integers"],
)
def test_each_input_gets_its_kind(shape, make, dtype, kind):
    (slot,) = describe_inputs(_model(shape, *make, dtype=dtype))
    assert (slot.name, slot.declared, slot.dtype, slot.kind) == ("x", (None, *shape), dtype, kind)


def test_an_embeddings_vocabulary_bounds_the_ids():
    (slot,) = describe_inputs(_model((6,), lambda L: L.Embedding(37, 4)))
    assert (slot.kind, slot.token_limit) == ("tokens", 37)


def test_channels_size_and_batch_shape_an_image_probe_and_the_values_repeat():
    model = _model((None, None, 3), lambda L: L.Conv2D(2, 3))
    probes, arrays = make_probes(model, channels=1, size=(12, 10), batch=3)
    (probe,) = probes
    assert (probe.shape, probe.declared, probe.kind) == ((3, 12, 10, 1), (None, None, None, 3), "image")
    assert arrays[0].shape == probe.shape and arrays[0].dtype == np.float32
    _, again = make_probes(model, channels=1, size=(12, 10), batch=3)
    np.testing.assert_array_equal(arrays[0], again[0])  # a fixed seed: the same probe every run


def test_an_open_image_needs_a_size():
    with pytest.raises(UsageError, match="unknown dimensions: pass size=HxW") as info:
        make_probes(_model((None, None, 3), lambda L: L.Conv2D(2, 3)), channels=None, size=None, batch=1)
    assert "size" in info.value.params


def test_too_large_a_probe_is_refused_before_it_is_made():
    model = _model((8, 8, 3), lambda L: L.Conv2D(2, 3))
    need = probe_bytes((4, 8, 8, 3))
    make_probes(model, channels=None, size=None, batch=4, available=2 * need)  # exactly half: fits
    with pytest.raises(UsageError, match="more than half"):
        make_probes(model, channels=None, size=None, batch=4, available=2 * need - 1)
    with pytest.raises(UsageError, match="a dimension above"):
        make_probes(model, channels=None, size=None, batch=MAX_DIM + 1, available=None)
