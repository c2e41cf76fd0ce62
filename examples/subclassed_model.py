"""A subclassed model, written the way the Keras subclassing guide writes them, to trace with shapetrace.

    shapetrace examples/subclassed_model.py:build
    shapetrace examples/subclassed_model.py:build --depth 0
    shapetrace examples/subclassed_model.py:build --channels 1       # breaks inside, exit 1
    shapetrace examples/subclassed_model.py:unbuilt --input 64x64x3  # never called: --input builds it

A subclassed model has no graph: shapetrace records every layer call of one real forward pass.
``ConvBlock`` and ``TinyResNet`` are the user's own classes, so they are opened (a row for the
block, then one row per call inside it); Keras's own layers are one row each.
"""

import keras
import numpy as np
from keras import layers, ops


class ConvBlock(layers.Layer):
    """Conv → BatchNorm → ReLU, twice, with a 1×1 projection on the shortcut when the width changes."""

    def __init__(self, filters, strides=1, **kwargs):
        super().__init__(**kwargs)
        self.conv1 = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False)
        self.bn1 = layers.BatchNormalization()
        self.conv2 = layers.Conv2D(filters, 3, padding="same", use_bias=False)
        self.bn2 = layers.BatchNormalization()
        self.shortcut = layers.Conv2D(filters, 1, strides=strides, use_bias=False)

    def call(self, x, training=False):
        y = ops.relu(self.bn1(self.conv1(x), training=training))
        y = self.bn2(self.conv2(y), training=training)
        return ops.relu(y + self.shortcut(x))  # an op in call(): the block's row shows its result


class TinyResNet(keras.Model):
    def __init__(self, num_classes=10, **kwargs):
        super().__init__(**kwargs)
        self.stem = layers.Conv2D(32, 3, strides=2, padding="same")
        self.blocks = [ConvBlock(32, name="block1"), ConvBlock(64, strides=2, name="block2")]
        self.pool = layers.GlobalAveragePooling2D()
        self.head = layers.Dense(num_classes)

    def call(self, images, training=False):
        x = self.stem(images)
        for block in self.blocks:
            x = block(x, training=training)
        return self.head(self.pool(x))


def build():
    """Built the usual way for a subclassed model: called once on a batch."""
    model = TinyResNet(name="tiny_resnet")
    model(np.zeros((1, 64, 64, 3), "float32"))
    return model


def unbuilt():
    return TinyResNet(name="tiny_resnet")
