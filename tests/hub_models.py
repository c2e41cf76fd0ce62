"""KerasHub backbones built offline from tiny configs, and a keras.io-style structured-data model.

The models Keras users now get first: every KerasHub text and audio backbone takes a dict of
inputs (``token_ids``, ``padding_mask``, encoder and decoder inputs), vision backbones embed
image patches in custom layers. Configs are the smallest that keep each architecture (two
layers, two heads, 32 features); no weights are downloaded. Each factory returns the model and
the dict of input shapes (without the batch axis) it is traced with: sequence inputs of open
length need one. Factories are also usable as ``tests/hub_models.py:NAME`` model specs.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers

SEQUENCE = 8
"""Tokens (or audio frames) per probe sequence."""

TINY = {"num_layers": 2, "num_heads": 2, "hidden_dim": 32}
"""The smallest transformer that keeps each architecture: two layers, two heads, 32 features."""


def _hub() -> Any:
    import keras_hub

    return keras_hub


def bert() -> keras.Model:
    """Text: token ids, segment ids, padding mask."""
    return _hub().models.BertBackbone(
        vocabulary_size=50,
        **TINY,
        intermediate_dim=64,
        max_sequence_length=16,
    )


def whisper() -> keras.Model:
    """Audio encoder–decoder: log-mel frames in (a strided Conv1D halves them), decoder tokens."""
    return _hub().models.WhisperBackbone(
        vocabulary_size=50,
        **TINY,
        intermediate_dim=64,
        num_mels=16,
        max_encoder_sequence_length=2 * SEQUENCE,
        max_decoder_sequence_length=16,
    )


def bart() -> keras.Model:
    """Text encoder–decoder."""
    return _hub().models.BartBackbone(
        vocabulary_size=50,
        **TINY,
        intermediate_dim=64,
        max_sequence_length=16,
    )


def t5() -> keras.Model:
    """Text encoder–decoder with relative position biases and gated feed-forward blocks."""
    return _hub().models.T5Backbone(
        vocabulary_size=50,
        **TINY,
        intermediate_dim=64,
    )


def vit() -> keras.Model:
    """Vision: a patch-embedding layer (Conv2D + class token + position Embedding), then encoders."""
    return _hub().models.ViTBackbone(
        image_shape=(32, 32, 3),
        patch_size=8,
        **TINY,
        mlp_dim=64,
    )


def clip_vision() -> keras.Model:
    """CLIP's vision encoder: its vision embedding holds the patch Conv2D and a position Embedding."""
    return _hub().models.CLIPVisionEncoder(
        patch_size=8,
        **TINY,
        intermediate_dim=64,
        image_shape=(32, 32, 3),
    )


HUB_MODELS: dict[str, tuple[Any, dict[str, tuple[int, ...]]]] = {
    "bert": (bert, {"token_ids": (SEQUENCE,), "segment_ids": (SEQUENCE,), "padding_mask": (SEQUENCE,)}),
    "whisper": (
        whisper,
        {
            "encoder_features": (2 * SEQUENCE, 16),
            "decoder_token_ids": (SEQUENCE,),
            "decoder_padding_mask": (SEQUENCE,),
        },
    ),
    "bart": (
        bart,
        {
            "encoder_token_ids": (SEQUENCE,),
            "encoder_padding_mask": (SEQUENCE,),
            "decoder_token_ids": (SEQUENCE,),
            "decoder_padding_mask": (SEQUENCE,),
        },
    ),
    "t5": (
        t5,
        {
            "encoder_token_ids": (SEQUENCE,),
            "encoder_padding_mask": (SEQUENCE,),
            "decoder_token_ids": (SEQUENCE,),
            "decoder_padding_mask": (SEQUENCE,),
        },
    ),
    "vit": (vit, {}),
    "clip_vision": (clip_vision, {}),
}
"""Name → (factory, input shapes without the batch axis; empty: the declared ones)."""


# --- keras.io "Structured data classification from scratch": a dict of Inputs ---------------
def structured_data() -> keras.Model:
    """Numeric and integer-coded categorical features, declared as a dict (not in sorted order)."""
    inputs = {
        "age": keras.Input(shape=(1,), name="age"),
        "thal": keras.Input(shape=(1,), name="thal", dtype="int32"),
        "chol": keras.Input(shape=(1,), name="chol"),
        "ca": keras.Input(shape=(1,), name="ca", dtype="int32"),
    }
    numeric = layers.Concatenate(name="numeric")([inputs["age"], inputs["chol"]])
    numeric = layers.Normalization(mean=[50.0, 240.0], variance=[80.0, 2500.0], name="scale")(numeric)
    thal = layers.Flatten(name="thal_flat")(layers.Embedding(8, 4, name="thal_embedding")(inputs["thal"]))
    ca = layers.CategoryEncoding(num_tokens=4, output_mode="one_hot", name="ca_one_hot")(inputs["ca"])
    x = layers.Concatenate(name="features")([numeric, thal, ca])
    x = layers.Dense(32, activation="relu", name="hidden")(x)
    x = layers.Dropout(0.5)(x)
    return keras.Model(inputs, layers.Dense(1, activation="sigmoid", name="out")(x), name="structured")


# --- Custom layers that multiply with keras.ops, and vision embeddings with a position table ---
class MixtureOfExperts(layers.Layer):
    """Experts as one (experts, in, units) weight, combined by a softmax gate with ``ops.einsum``."""

    def __init__(self, experts: int = 4, units: int = 8, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.experts, self.units = experts, units
        self.gate = layers.Dense(experts, name="gate")

    def build(self, input_shape: Any) -> None:
        self.kernel = self.add_weight(shape=(self.experts, input_shape[-1], self.units), name="kernel")

    def call(self, x: Any) -> Any:
        from keras import ops

        weights = ops.softmax(self.gate(x))
        hidden = ops.einsum("btd,edu->bteu", x, self.kernel)
        return ops.einsum("bteu,bte->btu", hidden, weights)


class EinsumAttention(layers.Layer):
    """Single-head attention written by hand: ``ops.matmul`` for QKᵀ, ``ops.einsum`` for AV."""

    def __init__(self, dim: int = 8, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.q, self.k, self.v = (layers.Dense(dim, name=n) for n in ("q", "k", "v"))

    def call(self, x: Any) -> Any:
        from keras import ops

        q, k, v = self.q(x), self.k(x), self.v(x)
        scores = ops.softmax(ops.matmul(q, ops.transpose(k, (0, 2, 1))))
        return ops.einsum("bts,bsd->btd", scores, v)


class RMSNorm(layers.Layer):
    """Normalization with a learned scale vector: element-wise work, no MACs."""

    def build(self, input_shape: Any) -> None:
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="scale")

    def call(self, x: Any) -> Any:
        from keras import ops

        return x * ops.rsqrt(ops.mean(x * x, axis=-1, keepdims=True) + 1e-6) * self.scale


class MatrixScale(layers.Layer):
    """A weight matrix used through the ``@`` operator, which shapetrace cannot see: unknown cost."""

    def build(self, input_shape: Any) -> None:
        self.kernel = self.add_weight(shape=(input_shape[-1], input_shape[-1]), name="kernel")

    def call(self, x: Any) -> Any:
        return x @ self.kernel


def custom_ops() -> keras.Model:
    """(5, 6) sequences through a mixture of experts, hand-written attention and an RMSNorm."""
    inputs = keras.Input((5, 6))
    x = MixtureOfExperts(name="moe")(inputs)
    x = EinsumAttention(name="attention")(x)
    return keras.Model(inputs, RMSNorm(name="norm")(x), name="custom_ops")


class PatchEmbedding(layers.Layer):
    """keras.io's ViT patch embedding: a strided Conv2D, then a position ``Embedding`` added."""

    def __init__(self, patch: int = 8, dim: int = 16, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dim = dim
        self.projection = layers.Conv2D(dim, patch, strides=patch, name="projection")
        self.position = layers.Embedding(16, dim, name="position")

    def call(self, images: Any) -> Any:
        from keras import ops

        x = self.projection(images)
        x = ops.reshape(x, (ops.shape(x)[0], -1, self.dim))
        return x + self.position(ops.arange(ops.shape(x)[1]))


class VisionEmbedding(layers.Layer):
    """CLIP's vision embedding: patch Conv2D without bias, a class embedding, a position table."""

    def __init__(self, patch: int = 8, dim: int = 16, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dim = dim
        self.patch = layers.Conv2D(dim, patch, strides=patch, use_bias=False, name="patch")
        self.position = layers.Embedding(17, dim, name="position")

    def build(self, input_shape: Any) -> None:
        self.class_embedding = self.add_weight(shape=(self.dim,), name="class_embedding")

    def call(self, images: Any) -> Any:
        from keras import ops

        x = self.patch(images)
        batch = ops.shape(x)[0]
        x = ops.reshape(x, (batch, -1, self.dim))
        cls = ops.tile(ops.expand_dims(self.class_embedding, axis=(0, 1)), (batch, 1, 1))
        x = ops.concatenate([cls, x], axis=1)
        return x + self.position(ops.arange(ops.shape(x)[1]))


def vision_embedding_model(embedding: str = "patch") -> keras.Model:
    """A 32x32 RGB image through a ViT patch embedding (``patch``) or a CLIP one (``clip``)."""
    inputs = keras.Input((32, 32, 3), name="image")
    layer = PatchEmbedding(name="embed") if embedding == "patch" else VisionEmbedding(name="embed")
    x = layers.GlobalAveragePooling1D(name="pool")(layer(inputs))
    return keras.Model(inputs, layers.Dense(2, name="head")(x), name=f"vit_{embedding}")


# --- Subclassed models with several inputs --------------------------------------------------
class ImageAndMeta(keras.Model):
    """``call(self, image, meta)``: an image branch and a metadata branch, concatenated."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conv = layers.Conv2D(4, 3, name="conv")
        self.pool = layers.GlobalAveragePooling2D(name="pool")
        self.meta_dense = layers.Dense(4, name="meta_dense")
        self.head = layers.Dense(2, name="head")

    def call(self, image: Any, meta: Any) -> Any:
        from keras import ops

        return self.head(ops.concatenate([self.pool(self.conv(image)), self.meta_dense(meta)], axis=-1))


class DictInputs(ImageAndMeta):
    """``call(self, inputs)`` taking ``{"image": …, "meta": …}``."""

    def call(self, inputs: Any) -> Any:
        return super().call(inputs["image"], inputs["meta"])


def structured_strings() -> keras.Model:
    """keras.io's FeatureSpace inference model: raw strings and integers looked up inside the model."""
    inputs = {
        "thal": keras.Input((1,), name="thal", dtype="string"),
        "age": keras.Input((1,), name="age"),
        "sex": keras.Input((1,), name="sex", dtype="int64"),
    }
    thal = layers.StringLookup(vocabulary=["fixed", "normal", "reversible"], output_mode="one_hot")(
        inputs["thal"]
    )
    sex = layers.IntegerLookup(vocabulary=[0, 1], output_mode="one_hot")(inputs["sex"])
    x = layers.Concatenate(name="features")([thal, sex, inputs["age"]])
    return keras.Model(inputs, layers.Dense(1, name="out")(x), name="structured_strings")
