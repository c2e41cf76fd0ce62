"""From a model spec to a built model (shapetrace/models/spec.py): the one way trace and adapt get one."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from shapetrace.errors import UsageError
from shapetrace.models.spec import model_from_spec

FACTORY = """
import keras

def build(width=8):
    inputs = keras.Input((16, 16, 1))
    return keras.Model(inputs, keras.layers.Conv2D(width, 3, name="conv")(inputs))
"""


@pytest.fixture
def factory(tmp_path):
    path = tmp_path / "nets.py"
    path.write_text(textwrap.dedent(FACTORY))
    return f"{path}:build"


def test_an_application_is_built_for_three_channels_unless_native():
    built = model_from_spec("mobilenet", size=(32, 32))
    assert (built.label, built.channels, built.application.key) == ("mobilenet", 3, "mobilenet")
    assert tuple(built.model.input_shape) == (None, 32, 32, 3)
    native = model_from_spec("MobileNet", channels=1, size=(32, 32), native=True)
    assert native.label == "mobilenet" and tuple(native.model.input_shape) == (None, 32, 32, 1)


@pytest.mark.parametrize(
    ("options", "param"),
    [({"imports": ["nets"]}, "imports"), ({"factory_args": {"width": 2}}, "factory_args")],
)
def test_user_code_options_are_refused_for_an_application(options, param):
    with pytest.raises(UsageError) as info:
        model_from_spec("mobilenet", **options)
    assert info.value.params == (param,) and "application name" in str(info.value)


def test_a_factory_is_called_with_its_arguments_and_named_as_given(factory):
    built = model_from_spec(factory, factory_args=["width=5"])
    assert built.label == factory and built.application is None and built.factory_args == {"width": 5}
    assert built.model.get_layer("conv").filters == 5


def test_application_options_are_refused_for_a_user_model_naming_what_the_caller_offers(factory):
    with pytest.raises(UsageError) as info:
        model_from_spec(factory, top=True, offered=("top", "pooling"))
    assert str(info.value).startswith("`top` and `pooling` build a keras.applications model")
    assert info.value.params == ("top", "pooling")


def test_a_user_models_weights_file_is_loaded_and_a_missing_one_refused(factory, tmp_path):
    original = model_from_spec(factory).model
    path = tmp_path / "net.weights.h5"
    original.save_weights(path)
    loaded = model_from_spec(factory, weights=path).model
    np.testing.assert_array_equal(loaded.get_layer("conv").kernel, original.get_layer("conv").kernel)
    with pytest.raises(UsageError, match="does not exist") as info:  # checked before the model loads
        model_from_spec(factory, weights=tmp_path / "absent.weights.h5")
    assert "absent.weights.h5" in str(info.value)
