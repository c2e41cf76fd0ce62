"""A small user model, as a team would have it in its own repository.

`shapetrace` builds it through this factory (``model.py:build_model``), so the CI
check traces the code as it is now, not a saved file.
"""

import keras
from keras import layers


def build_model(channels: int = 1, size: int = 32, width: int = 8, classes: int = 10) -> keras.Model:
    """A grayscale classifier: two conv blocks, global pooling, a softmax head."""
    inputs = keras.Input((size, size, channels), name="image")
    x = layers.Rescaling(1 / 255)(inputs)
    x = layers.Conv2D(width, 3, padding="same", activation="relu", name="stem")(x)
    x = layers.MaxPooling2D(name="pool")(x)
    x = layers.Conv2D(width * 2, 3, padding="same", activation="relu", name="block")(x)
    x = layers.GlobalAveragePooling2D(name="features")(x)
    outputs = layers.Dense(classes, activation="softmax", name="classes")(x)
    return keras.Model(inputs, outputs, name="digits_cnn")
