"""Small hand-built models for tests: every channel mechanism in a few layers, names fixed."""

from __future__ import annotations


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
