"""The JAX fast path (shapetrace/tracing/jax_trace.py): rows equal to the real eager walk's, field by field,
and the real walk wherever abstract values cannot vouch (values read, a break, user code).

Runs in a ``KERAS_BACKEND=jax`` subprocess (this process is on TensorFlow); the comparison with
TensorFlow's rows for EfficientNetB0 at 64×64, 1 channel is tests/test_backends.py's slow test.
"""

from __future__ import annotations

import importlib.util
import json
import os

import pytest
from conftest import run_fresh

pytestmark = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")

SCRIPT = r"""
import json, sys
import numpy as np
from dataclasses import asdict
from shapetrace.tracing import _keras_graph as kg, jax_trace
from shapetrace.tracing.probes import make_probes
from shapetrace.tracing.engine import _Walker, walk_with
from shapetrace.tracing.walk import walk_stream
keras = kg.keras
layers = keras.layers

calls = {"abstract": 0}
real_abstract_call = jax_trace.abstract_call
def counting(*args, **kwargs):
    calls["abstract"] += 1
    return real_abstract_call(*args, **kwargs)
jax_trace.abstract_call = counting

def plain():
    inner = keras.Sequential([layers.Conv2D(4, 1), layers.ReLU()], name="inner")
    x = inputs = keras.Input((16, 16, 3))
    x = layers.Normalization(mean=[1.0, 2.0, 3.0], variance=[1.0, 1.0, 1.0])(x)
    x = layers.Conv2D(8, 3, strides=2, padding="same")(x)
    x = layers.BatchNormalization()(x)
    x = layers.DepthwiseConv2D(3, padding="same")(x)
    x = layers.Dropout(0.5)(x)
    x = inner(x)
    y = layers.Reshape((8, 8 * 4))(x)
    y = layers.LSTM(5)(y)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Concatenate()([x, y])
    return keras.Model(inputs, layers.Dense(3)(x), name="plain")

def reads_values():
    inputs = keras.Input((4,))
    x = layers.Lambda(lambda t: t * float(np.asarray(t).max() > -1), output_shape=(4,))(inputs)
    return keras.Model(inputs, layers.Dense(2)(x), name="reads_values")

def rows(result):
    return [asdict(r) for r in result.rows], result.broken is not None

report = {}
for name, build, channels in (("plain", plain, 3), ("broadcast", plain, 1), ("reads_values", reads_values, None),
                              ("broken", plain, 2)):
    model = build()
    probes, arrays = make_probes(model, channels=channels, size=None, batch=1)
    calls["abstract"] = 0
    fast = walk_stream(model, probes, arrays)
    used = calls["abstract"]
    real = walk_with(_Walker(None), model, probes, arrays)
    report[name] = {"same": rows(fast) == rows(real), "abstract_calls": used, "rows": len(real.rows),
                    "fast_path": jax_trace.walk(model, probes, arrays) is not None, "broken": real.broken is not None}
print(json.dumps(report))
"""


def test_fast_walk_rows_equal_the_real_walk_and_it_steps_aside_where_it_cannot_vouch():
    done = run_fresh([SCRIPT], module=False, env={**os.environ, "KERAS_BACKEND": "jax"})
    assert done.code == 0, done.err[-3000:]
    report = json.loads(done.out.strip().splitlines()[-1])
    for name, case in report.items():
        assert case["same"], f"{name}: the fast walk's rows differ from the real walk's"
    # Walked abstractly: every layer, the nested Sequential's included; the 1-channel probe too
    # (Normalization's (1, 1, 1, 3) mean broadcasts it to 3 channels, as on TensorFlow).
    assert report["plain"]["fast_path"] and report["plain"]["abstract_calls"] == report["plain"]["rows"] - 1
    assert report["broadcast"]["fast_path"] and not report["broadcast"]["broken"]
    # A layer that reads values, and a break, are left to the real walk.
    assert not report["reads_values"]["fast_path"]
    assert report["broken"]["broken"] and not report["broken"]["fast_path"]
