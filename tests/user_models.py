"""Realistic user models, written after well-known Keras examples (keras.io and the Keras guides).

These are the models CI shape checks exist for: subclassed models, custom layers, sequences,
text, audio, several inputs and outputs. Sizes are kept small so the suite stays quick, but
each model keeps the structure of its example. Every factory returns a fresh model; custom
classes are registered as serializable (package ``shapetrace_tests``) so a model saved to
``.keras`` loads again once this module is imported.

Factories are also usable as ``tests/user_models.py:NAME`` model specs.
"""

from __future__ import annotations

import keras
from keras import layers, ops

PACKAGE = "shapetrace_tests"


# --- U-Net-like segmentation (keras.io: "Image segmentation with a U-Net-like architecture") ---
def unet(img_size: tuple[int, int] = (64, 64), num_classes: int = 3) -> keras.Model:
    inputs = keras.Input(shape=img_size + (3,))
    x = layers.Conv2D(32, 3, strides=2, padding="same")(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    previous_block_activation = x
    for filters in [64, 128, 256]:
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        residual = layers.Conv2D(filters, 1, strides=2, padding="same")(previous_block_activation)
        x = layers.add([x, residual])
        previous_block_activation = x
    for filters in [256, 128, 64, 32]:
        x = layers.Activation("relu")(x)
        x = layers.Conv2DTranspose(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.Conv2DTranspose(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.UpSampling2D(2)(x)
        residual = layers.UpSampling2D(2)(previous_block_activation)
        residual = layers.Conv2D(filters, 1, padding="same")(residual)
        x = layers.add([x, residual])
        previous_block_activation = x
    outputs = layers.Conv2D(num_classes, 3, activation="softmax", padding="same")(x)
    return keras.Model(inputs, outputs, name="unet")


# --- Text classification with a Transformer (keras.io: "Text classification with Transformer") ---
@keras.saving.register_keras_serializable(package=PACKAGE)
class TransformerBlock(layers.Layer):
    def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1, **kwargs):
        super().__init__(**kwargs)
        self.embed_dim, self.num_heads, self.ff_dim, self.rate = embed_dim, num_heads, ff_dim, rate
        self.att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.ffn = keras.Sequential([layers.Dense(ff_dim, activation="relu"), layers.Dense(embed_dim)])
        self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
        self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
        self.dropout1 = layers.Dropout(rate)
        self.dropout2 = layers.Dropout(rate)

    def call(self, inputs, training=False):
        attn_output = self.att(inputs, inputs)
        attn_output = self.dropout1(attn_output, training=training)
        out1 = self.layernorm1(inputs + attn_output)
        ffn_output = self.ffn(out1)
        ffn_output = self.dropout2(ffn_output, training=training)
        return self.layernorm2(out1 + ffn_output)

    def get_config(self):
        return {
            **super().get_config(),
            "embed_dim": self.embed_dim,
            "num_heads": self.num_heads,
            "ff_dim": self.ff_dim,
            "rate": self.rate,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class TokenAndPositionEmbedding(layers.Layer):
    def __init__(self, maxlen, vocab_size, embed_dim, **kwargs):
        super().__init__(**kwargs)
        self.maxlen, self.vocab_size, self.embed_dim = maxlen, vocab_size, embed_dim
        self.token_emb = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
        self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

    def call(self, x):
        maxlen = ops.shape(x)[-1]
        positions = ops.arange(start=0, stop=maxlen, step=1)
        positions = self.pos_emb(positions)
        x = self.token_emb(x)
        return x + positions

    def get_config(self):
        return {
            **super().get_config(),
            "maxlen": self.maxlen,
            "vocab_size": self.vocab_size,
            "embed_dim": self.embed_dim,
        }


def text_transformer(
    maxlen: int = 200, vocab_size: int = 20000, embed_dim: int = 32, num_heads: int = 2, ff_dim: int = 32
) -> keras.Model:
    inputs = layers.Input(shape=(maxlen,))
    x = TokenAndPositionEmbedding(maxlen, vocab_size, embed_dim)(inputs)
    x = TransformerBlock(embed_dim, num_heads, ff_dim)(x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dropout(0.1)(x)
    x = layers.Dense(20, activation="relu")(x)
    x = layers.Dropout(0.1)(x)
    outputs = layers.Dense(2, activation="softmax")(x)
    return keras.Model(inputs=inputs, outputs=outputs, name="text_transformer")


# --- Siamese network (keras.io: "Image similarity estimation using a Siamese Network with a
# contrastive loss"): one shared tower, a named-function Lambda for the distance. ---
def euclidean_distance(vects):
    x, y = vects
    sum_square = ops.sum(ops.square(x - y), axis=1, keepdims=True)
    return ops.sqrt(ops.maximum(sum_square, keras.backend.epsilon()))


def siamese() -> keras.Model:
    inp = layers.Input((28, 28, 1))
    x = layers.BatchNormalization()(inp)
    x = layers.Conv2D(4, (5, 5), activation="tanh")(x)
    x = layers.AveragePooling2D(pool_size=(2, 2))(x)
    x = layers.Conv2D(16, (5, 5), activation="tanh")(x)
    x = layers.AveragePooling2D(pool_size=(2, 2))(x)
    x = layers.Flatten()(x)
    x = layers.BatchNormalization()(x)
    x = layers.Dense(10, activation="tanh")(x)
    embedding_network = keras.Model(inp, x, name="tower")

    input_1 = layers.Input((28, 28, 1), name="left")
    input_2 = layers.Input((28, 28, 1), name="right")
    tower_1 = embedding_network(input_1)
    tower_2 = embedding_network(input_2)
    merge_layer = layers.Lambda(euclidean_distance, output_shape=(1,))([tower_1, tower_2])
    normal_layer = layers.BatchNormalization()(merge_layer)
    output_layer = layers.Dense(1, activation="sigmoid")(normal_layer)
    return keras.Model(inputs=[input_1, input_2], outputs=output_layer, name="siamese")


# --- Multi-input, multi-output ticket classifier (Keras guide: "The Functional API") with
# variable-length text inputs. ---
def ticket_classifier(num_tags: int = 12, num_words: int = 10000, num_departments: int = 4) -> keras.Model:
    title_input = keras.Input(shape=(None,), name="title")
    body_input = keras.Input(shape=(None,), name="body")
    tags_input = keras.Input(shape=(num_tags,), name="tags")
    title_features = layers.Embedding(num_words, 64)(title_input)
    body_features = layers.Embedding(num_words, 64)(body_input)
    title_features = layers.LSTM(128)(title_features)
    body_features = layers.LSTM(32)(body_features)
    x = layers.concatenate([title_features, body_features, tags_input])
    priority_pred = layers.Dense(1, name="priority")(x)
    department_pred = layers.Dense(num_departments, name="department")(x)
    return keras.Model(
        inputs=[title_input, body_input, tags_input],
        outputs={"priority": priority_pred, "department": department_pred},
        name="ticket_classifier",
    )


# --- Sequence forecaster: stacked Bidirectional LSTM/GRU with TimeDistributed heads
# (after keras.io's "Timeseries forecasting for weather prediction", 120 steps × 7 features). ---
def forecaster(steps: int = 120, features: int = 7) -> keras.Model:
    inputs = keras.Input(shape=(steps, features), name="weather")
    x = layers.Bidirectional(layers.LSTM(64, return_sequences=True))(inputs)
    x = layers.Bidirectional(layers.GRU(32, return_sequences=True))(x)
    x = layers.TimeDistributed(layers.Dense(16, activation="relu"))(x)
    outputs = layers.TimeDistributed(layers.Dense(1))(x)
    return keras.Model(inputs, outputs, name="forecaster")


# --- A functional model that calls keras.ops directly (ops become graph nodes, not layers). ---
def ops_model() -> keras.Model:
    inputs = keras.Input(shape=(32, 32, 3), name="image")
    x = layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    pooled = ops.mean(x, axis=(1, 2))  # a global average pool written as an op
    gate = ops.sigmoid(layers.Dense(16)(pooled))
    x = x * ops.reshape(gate, (-1, 1, 1, 16))  # squeeze-and-excitation by hand
    x = ops.concatenate([x, inputs], axis=-1)  # 16 + 3 = 19 channels
    x = layers.Conv2D(8, 1)(x)
    x = ops.reshape(x, (-1, 32 * 32 * 8))
    outputs = layers.Dense(10)(x)
    return keras.Model(inputs, outputs, name="ops_model")


# --- Conv1D audio classifier (keras.io: "Speaker Recognition", residual Conv1D blocks). ---
def _residual_block(x, filters, conv_num=3, activation="relu"):
    s = layers.Conv1D(filters, 1, padding="same")(x)
    for _ in range(conv_num - 1):
        x = layers.Conv1D(filters, 3, padding="same")(x)
        x = layers.Activation(activation)(x)
    x = layers.Conv1D(filters, 3, padding="same")(x)
    x = layers.Add()([x, s])
    x = layers.Activation(activation)(x)
    return layers.MaxPool1D(pool_size=2, strides=2)(x)


def audio_classifier(samples: int = 8000, num_classes: int = 5) -> keras.Model:
    inputs = layers.Input(shape=(samples, 1), name="input")
    x = _residual_block(inputs, 16, 2)
    x = _residual_block(x, 32, 2)
    x = _residual_block(x, 64, 3)
    x = _residual_block(x, 128, 3)
    x = layers.AveragePooling1D(pool_size=3, strides=3)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(256, activation="relu")(x)
    x = layers.Dense(128, activation="relu")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="output")(x)
    return keras.Model(inputs=inputs, outputs=outputs, name="audio_classifier")


# --- Transfer learning with augmentation (keras.io: "Transfer learning & fine-tuning"). ---
def mobilenet_transfer(size: int = 96, num_classes: int = 1) -> keras.Model:
    data_augmentation = keras.Sequential(
        [layers.RandomFlip("horizontal"), layers.RandomRotation(0.1)], name="augmentation"
    )
    base_model = keras.applications.MobileNetV2(weights=None, input_shape=(size, size, 3), include_top=False)
    base_model.trainable = False
    inputs = keras.Input(shape=(size, size, 3))
    x = data_augmentation(inputs)
    x = layers.Rescaling(scale=1 / 127.5, offset=-1)(x)
    x = base_model(x, training=False)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.2)(x)
    outputs = layers.Dense(num_classes)(x)
    return keras.Model(inputs, outputs, name="mobilenet_transfer")


# --- Subclassed models (Keras guide: "Making new layers and models via subclassing"). ---
@keras.saving.register_keras_serializable(package=PACKAGE)
class ResidualBlock(layers.Layer):
    """Two 3×3 convs with a projection shortcut when the width changes."""

    def __init__(self, filters, strides=1, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.strides = filters, strides
        self.conv1 = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False)
        self.bn1 = layers.BatchNormalization()
        self.conv2 = layers.Conv2D(filters, 3, padding="same", use_bias=False)
        self.bn2 = layers.BatchNormalization()
        self.project = None

    def build(self, input_shape):
        if input_shape[-1] != self.filters or self.strides != 1:
            self.project = layers.Conv2D(self.filters, 1, strides=self.strides, use_bias=False)

    def call(self, x, training=False):
        shortcut = x if self.project is None else self.project(x)
        y = ops.relu(self.bn1(self.conv1(x), training=training))
        y = self.bn2(self.conv2(y), training=training)
        return ops.relu(y + shortcut)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "strides": self.strides}


@keras.saving.register_keras_serializable(package=PACKAGE)
class ResNetish(keras.Model):
    """A small ResNet written as a subclassed model (the subclassing guide's way)."""

    def __init__(self, num_classes=10, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.stem = layers.Conv2D(16, 3, padding="same", use_bias=False)
        self.stem_bn = layers.BatchNormalization()
        self.block1 = ResidualBlock(16, name="residual_block")
        self.block2 = ResidualBlock(32, strides=2, name="residual_block_1")
        self.block3 = ResidualBlock(64, strides=2, name="residual_block_2")
        self.pool = layers.GlobalAveragePooling2D()
        self.classifier = layers.Dense(num_classes)

    def call(self, inputs, training=False):
        x = ops.relu(self.stem_bn(self.stem(inputs), training=training))
        x = self.block1(x, training=training)
        x = self.block2(x, training=training)
        x = self.block3(x, training=training)
        return self.classifier(self.pool(x))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


def resnetish_called(size: int = 32, channels: int = 3) -> keras.Model:
    """Built the usual way for a subclassed model: by calling it once on data."""
    import numpy as np

    model = ResNetish(name="resnetish")
    model(np.zeros((1, size, size, channels), "float32"))
    return model


def resnetish_unbuilt() -> keras.Model:
    """Never called: no input shape is known until a probe is given."""
    return ResNetish(name="resnetish")


@keras.saving.register_keras_serializable(package=PACKAGE)
class Sampling(layers.Layer):
    """Uses (z_mean, z_log_var) to sample z, the vector encoding a digit."""

    def call(self, inputs):
        z_mean, z_log_var = inputs
        epsilon = keras.random.normal(shape=ops.shape(z_mean), seed=1337)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


@keras.saving.register_keras_serializable(package=PACKAGE)
class Encoder(layers.Layer):
    """Maps MNIST digits to a triplet (z_mean, z_log_var, z)."""

    def __init__(self, latent_dim=32, intermediate_dim=64, name="encoder", **kwargs):
        super().__init__(name=name, **kwargs)
        self.dense_proj = layers.Dense(intermediate_dim, activation="relu")
        self.dense_mean = layers.Dense(latent_dim)
        self.dense_log_var = layers.Dense(latent_dim)
        self.sampling = Sampling()

    def call(self, inputs):
        x = self.dense_proj(inputs)
        z_mean = self.dense_mean(x)
        z_log_var = self.dense_log_var(x)
        z = self.sampling((z_mean, z_log_var))
        return z_mean, z_log_var, z


@keras.saving.register_keras_serializable(package=PACKAGE)
class Decoder(layers.Layer):
    """Converts z, the encoded digit vector, back into a readable digit."""

    def __init__(self, original_dim, intermediate_dim=64, name="decoder", **kwargs):
        super().__init__(name=name, **kwargs)
        self.dense_proj = layers.Dense(intermediate_dim, activation="relu")
        self.dense_output = layers.Dense(original_dim, activation="sigmoid")

    def call(self, inputs):
        return self.dense_output(self.dense_proj(inputs))


@keras.saving.register_keras_serializable(package=PACKAGE)
class VariationalAutoEncoder(keras.Model):
    """Combines the encoder and decoder into an end-to-end model for training."""

    def __init__(self, original_dim=784, intermediate_dim=64, latent_dim=32, name="autoencoder", **kwargs):
        super().__init__(name=name, **kwargs)
        self.original_dim = original_dim
        self.encoder = Encoder(latent_dim=latent_dim, intermediate_dim=intermediate_dim)
        self.decoder = Decoder(original_dim, intermediate_dim=intermediate_dim)

    def call(self, inputs):
        z_mean, z_log_var, z = self.encoder(inputs)
        reconstructed = self.decoder(z)
        kl_loss = -0.5 * ops.mean(z_log_var - ops.square(z_mean) - ops.exp(z_log_var) + 1)
        self.add_loss(kl_loss)
        return reconstructed


def vae_called() -> keras.Model:
    import numpy as np

    model = VariationalAutoEncoder(784, 64, 32)
    model(np.zeros((2, 784), "float32"))
    return model


# Everything above by name, for parametrised tests: (factory, a probe that fits, one that breaks).
USER_MODELS = {
    "unet": unet,
    "text_transformer": text_transformer,
    "siamese": siamese,
    "ticket_classifier": ticket_classifier,
    "forecaster": forecaster,
    "ops_model": ops_model,
    "audio_classifier": audio_classifier,
    "mobilenet_transfer": mobilenet_transfer,
    "resnetish_called": resnetish_called,
    "resnetish_unbuilt": resnetish_unbuilt,
    "vae_called": vae_called,
}
