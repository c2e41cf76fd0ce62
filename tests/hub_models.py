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


def _hub() -> Any:
    import keras_hub

    return keras_hub


def bert() -> keras.Model:
    """Text: token ids, segment ids, padding mask."""
    return _hub().models.BertBackbone(
        vocabulary_size=50,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
        max_sequence_length=16,
    )


def whisper() -> keras.Model:
    """Audio encoder–decoder: log-mel frames in (a strided Conv1D halves them), decoder tokens."""
    return _hub().models.WhisperBackbone(
        vocabulary_size=50,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
        num_mels=16,
        max_encoder_sequence_length=2 * SEQUENCE,
        max_decoder_sequence_length=16,
    )


def bart() -> keras.Model:
    """Text encoder–decoder."""
    return _hub().models.BartBackbone(
        vocabulary_size=50,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
        max_sequence_length=16,
    )


def t5() -> keras.Model:
    """Text encoder–decoder with relative position biases and gated feed-forward blocks."""
    return _hub().models.T5Backbone(
        vocabulary_size=50,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
    )


def vit() -> keras.Model:
    """Vision: a patch-embedding layer (Conv2D + class token + position Embedding), then encoders."""
    return _hub().models.ViTBackbone(
        image_shape=(32, 32, 3),
        patch_size=8,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        mlp_dim=64,
    )


def clip_vision() -> keras.Model:
    """CLIP's vision encoder: its vision embedding holds the patch Conv2D and a position Embedding."""
    return _hub().models.CLIPVisionEncoder(
        patch_size=8,
        hidden_dim=32,
        num_layers=2,
        num_heads=2,
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
