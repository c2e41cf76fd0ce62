"""Small hand-built models and traces for tests: every channel mechanism in a few layers, names fixed."""

from __future__ import annotations

import warnings
from dataclasses import replace


def toy_model():
    """Declared for 3 channels; a 1-channel probe broadcasts at ``norm``."""
    from shapetrace.tracing._keras_graph import keras

    layers = keras.layers
    inputs = keras.Input((8, 8, 3), name="image")
    x = layers.Rescaling(1 / 255.0, name="scale")(inputs)
    x = layers.Normalization(mean=[0.5, 0.4, 0.3], variance=[0.1, 0.2, 0.3], name="norm")(x)
    x = layers.Conv2D(4, 3, padding="same", name="stem")(x)
    a = layers.Conv2D(2, 1, name="squeeze")(x)
    b = layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, name="depthwise")(x)
    x = layers.Concatenate(name="concat")([a, b])
    x = layers.MaxPooling2D(2, name="pool")(x)
    x = layers.Flatten(name="flatten")(x)
    outputs = layers.Dense(5, name="logits")(x)
    return keras.Model(inputs, outputs, name="toy")


def story_model(size=(84, 112)):
    """The story's own model: EfficientNetB5 on Input((84, 112, 3)), max pooling, in a Sequential."""
    from shapetrace.tracing._keras_graph import keras

    keras.backend.clear_session()
    base = keras.applications.EfficientNetB5(
        include_top=False,
        weights=None,
        input_tensor=keras.Input((*size, 3)),
        pooling="max",
    )
    return keras.Sequential([base, keras.layers.Flatten(), keras.layers.Dense(9)])


def trace_layer(make, *shapes, batch=1, dtype="float32"):
    """Trace a model of the one layer ``make(keras.layers)`` (fresh session); returns its row.

    One input per shape (``x0``, ``x1``, …, of ``dtype``), all passed to the layer positionally.
    """
    import shapetrace
    from shapetrace.tracing._keras_graph import keras

    keras.backend.clear_session()
    inputs = [keras.Input(s, name=f"x{i}", dtype=dtype) for i, s in enumerate(shapes)]
    outputs = make(keras.layers)(*inputs)
    model = keras.Model(inputs if len(inputs) > 1 else inputs[0], outputs)
    trace = shapetrace.trace_model(model, batch=batch)
    assert trace.ok, trace.broken
    return trace.layers[-1]


def hand_trace(layers, **changes):
    """A trace of ``(path, type, input, output)`` rows; ``changes`` replace fields of the first row."""
    from shapetrace.records import Boundary, LayerTrace, Probe, Trace

    rows = [
        LayerTrace(
            index=i,
            path=p,
            name=p.rsplit("/", 1)[-1],
            type=t,
            depth=0,
            inputs=(inp,),
            declared_output=None,
            static_output=out,
            output=out,
            params=0,
        )
        for i, (p, t, inp, out) in enumerate(layers)
    ]
    rows[0] = replace(rows[0], **changes)
    return Trace(
        model="m",
        probes=(Probe("x", (1, 4, 4, 1), (None, 4, 4, 1)),),
        boundary=Boundary(True, None),
        layers=tuple(rows),
        broken=None,
        total_params=0,
        seconds=0.0,
    )


EIGHT = (1, 4, 4, 8)
"""The shape every row of :func:`conv_rows` takes in and gives out (unless it changes channels)."""


def conv_rows(*names, changes_at=None):
    """Rows for :func:`hand_trace`: a Conv2D ``m/NAME`` per name keeping 8 channels, except
    ``changes_at``, which takes 1 channel in."""
    return [(f"m/{n}", "Conv2D", (1, 4, 4, 1) if n == changes_at else EIGHT, EIGHT) for n in names]


def trojan_files(folder, *suffixes):
    """A model whose Lambda ``evil`` writes ``folder/pwned.txt`` whenever Keras calls it (on load,
    too), saved as ``folder/trojan{suffix}`` for each suffix; returns those paths and the marker."""
    from shapetrace.tracing._keras_graph import keras

    marker = folder / "pwned.txt"
    payload = eval(f"lambda t: (open({str(marker)!r}, 'w').write('pwned'), t)[1]")
    inputs = keras.Input((4,), name="x")
    outputs = keras.layers.Lambda(payload, name="evil")(keras.layers.Dense(2, name="dense")(inputs))
    model = keras.Model(inputs, outputs, name="trojan")
    paths = {suffix: folder / f"trojan{suffix}" for suffix in suffixes}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in paths.values():
            model.save(path)
    marker.unlink()  # building the model called the Lambda once
    return paths, marker
