"""The hint under a broken trace (shapetrace/render/hints.py): what applies to this model only."""

from __future__ import annotations

import shapetrace
from shapetrace.render.hints import break_hint
from shapetrace.tracing._keras_graph import keras


def test_an_application_is_offered_its_own_channels_native_and_adapt():
    trace = shapetrace.trace("vgg16", channels=1, size=(32, 32))
    assert not trace.ok
    hint = break_hint(trace)
    assert hint is not None and hint.startswith("Try --channels 3 (what the model declares), --native")
    assert (
        "shapetrace adapt vgg16 --channels 1 -o vgg16_1ch.keras (or shapetrace train --adapt repeat)" in hint
    )


def test_a_user_model_is_offered_its_declared_input():
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(4, 3)(inputs))
    trace = shapetrace.trace_model(model, channels=1)
    assert not trace.ok
    assert break_hint(trace) == "The model declares (None, 8, 8, 3): try --input 8x8x3."
    assert "--native" not in break_hint(trace)


def test_a_passing_probe_gets_no_hint():
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(4, 3)(inputs))
    assert break_hint(shapetrace.trace_model(model)) is None
