"""The application registry: names, sizes, and that the sizes are Keras's own."""

from __future__ import annotations

import pytest

from shapetrace.errors import ModelNotFoundError, UsageError
from shapetrace.models.catalog import APPLICATIONS, parse_size, resolve_application


def test_registry_is_exactly_keras_applications():
    from shapetrace.tracing._keras_graph import keras

    names = {
        n for n in dir(keras.applications) if n[0].isupper() and callable(getattr(keras.applications, n))
    }
    assert {app.name for app in APPLICATIONS.values()} == names
    assert len(APPLICATIONS) == 40


@pytest.mark.parametrize(
    "spelling, expected",
    [
        ("efficientnetb5", "EfficientNetB5"),
        ("EfficientNetB5", "EfficientNetB5"),
        ("efficientnet-b5", "EfficientNetB5"),
        ("efficientnet_b5", "EfficientNetB5"),
        ("resnet50v2", "ResNet50V2"),
        ("convnext-tiny", "ConvNeXtTiny"),
        ("MobileNet_V3_Small", "MobileNetV3Small"),
    ],
)
def test_names_match_ignoring_case_dashes_and_underscores(spelling, expected):
    assert resolve_application(spelling).name == expected


def test_unknown_name_suggests_the_closest():
    with pytest.raises(ModelNotFoundError) as info:
        resolve_application("efficientnet-b9")
    assert "EfficientNetB5" in info.value.suggestions or "EfficientNetB0" in info.value.suggestions
    assert "Did you mean" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("text, size", [("84x112", (84, 112)), ("128", (128, 128)), (" 32 X 64 ", (32, 64))])
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "x", "12x", "0x0", "-3x4", "3.5x4", "axb"])
def test_parse_size_rejects_malformed(text):
    with pytest.raises(UsageError):
        parse_size(text)


@pytest.mark.parametrize("key", ["resnet50", "inceptionv3", "xception", "efficientnetb0", "nasnetmobile"])
def test_minimum_size_is_the_one_keras_enforces(key):
    """Keras refuses one pixel below our recorded minimum (at the minimum, the all-applications
    test builds and traces every model)."""
    from shapetrace.tracing._keras_graph import keras

    app = APPLICATIONS[key]
    below = app.min_size - 1
    with pytest.raises(ValueError):
        getattr(keras.applications, app.name)(include_top=False, weights=None, input_shape=(below, below, 3))
