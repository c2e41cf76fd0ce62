"""Resolving MODEL: saved files (safely), factories, multi-input probes, and every bad input."""

from __future__ import annotations

import json
import textwrap
import warnings
import zipfile
from pathlib import Path

import pytest
from toy_models import trojan_files

from shapetrace.errors import UsageError
from shapetrace.models.loading import (
    UnsafeLoadWarning,
    load_model,
    parse_factory_args,
    parse_input_shapes,
    parse_model_spec,
    read_saved_config,
    scan_config,
)

FACTORY_SOURCE = textwrap.dedent(
    """
    import keras

    def build(channels=1, width=4):
        inputs = keras.Input((16, 16, channels))
        x = keras.layers.Conv2D(width, 3)(inputs)
        return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))

    def two_inputs():
        image = keras.Input((16, 16, 3), name="image")
        meta = keras.Input((4,), name="meta")
        x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(8, 3)(image))
        y = keras.layers.Dense(4)(meta)
        return keras.Model([image, meta], keras.layers.Concatenate()([x, y]))

    def raises():
        raise RuntimeError("no GPU config found")

    def not_a_model():
        return keras.layers.Dense(3)

    NOT_CALLABLE = 3
    """
)


@pytest.fixture(scope="module")
def factory_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("factories") / "models.py"
    path.write_text(FACTORY_SOURCE)
    return path


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[str, Path]:
    """A tiny model saved as .keras and legacy .h5, plus a weights-only file."""
    from shapetrace.tracing._keras_graph import keras

    folder = tmp_path_factory.mktemp("saved")
    inputs = keras.Input((12, 12, 2), name="pixels")
    x = keras.layers.Conv2D(5, 3, name="conv")(inputs)
    model = keras.Model(inputs, keras.layers.Flatten(name="flat")(x), name="tiny")
    paths = {"keras": folder / "tiny.keras", "h5": folder / "tiny.h5", "weights": folder / "tiny.weights.h5"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save(paths["keras"])
        model.save(paths["h5"])
    model.save_weights(paths["weights"])
    return paths


@pytest.fixture(scope="module")
def trojan(tmp_path_factory) -> dict[str, Path]:
    files, marker = trojan_files(tmp_path_factory.mktemp("trojan"), ".keras", ".h5")
    return {"keras": files[".keras"], "h5": files[".h5"], "marker": marker}


# --------------------------------------------------------------------------- specs


@pytest.mark.parametrize(
    "text, kind",
    [
        ("efficientnetb5", "application"),
        ("ResNet-50", "application"),
        ("model.keras", "file"),
        ("dir/legacy.H5", "file"),
        ("pkg.models:build", "factory"),
        ("models:build", "factory"),
        ("path/to/models.py:build", "factory"),
    ],
)
def test_spec_kinds(text, kind):
    assert parse_model_spec(text).kind == kind


@pytest.mark.parametrize("text", ["model.onnx", "weights.pb", "path/to/model", "models.py"])
def test_wrong_extension_is_one_line(text):
    with pytest.raises(UsageError) as info:
        parse_model_spec(text)
    message = str(info.value)
    assert "\n" not in message and ".keras or .h5" in message and text in message


def test_factory_args_are_literals_or_text():
    assert parse_factory_args(
        ["channels=1", "name=tiny", "scale=0.5", "flag=True", "size=(8, 8)", "s='3'"]
    ) == {
        "channels": 1,
        "name": "tiny",
        "scale": 0.5,
        "flag": True,
        "size": (8, 8),
        "s": "3",
    }
    for bad in ["channels", "=1", "1x=2"]:
        with pytest.raises(UsageError, match=r"factory_args=\[") as info:
            parse_factory_args([bad])
        assert info.value.params == ("factory_args",)


def test_input_shapes():
    assert parse_input_shapes(["image=64x64x1", "meta=10"]) == {"image": (64, 64, 1), "meta": (10,)}
    for bad in ["image", "image=", "image=64xax1", "image=0x4"]:
        with pytest.raises(UsageError, match="input"):
            parse_input_shapes([bad])


# --------------------------------------------------------------------------- the config scan


def _layer(class_name, name, module="keras.layers", **config):
    return {
        "module": module,
        "class_name": class_name,
        "config": {"name": name, **config},
        "registered_name": None,
    }


def test_scan_names_what_is_unsafe():
    config = {
        "module": "keras.src.models.functional",
        "class_name": "Functional",
        "config": {
            "name": "m",
            "layers": [
                _layer(
                    "Dense",
                    "ok",
                    activation={
                        "module": "keras.activations",
                        "class_name": "function",
                        "config": "relu",
                        "registered_name": None,
                    },
                ),
                _layer("Lambda", "evil", function={"class_name": "__lambda__", "config": {"code": "AAAA"}}),
                _layer("MyBlock", "custom", module="my_company.layers"),
                _layer(
                    "Dense",
                    "fetch",
                    activation={
                        "module": "keras.utils",
                        "class_name": "function",
                        "config": "get_file",
                        "registered_name": None,
                    },
                ),
                _layer("TFSMLayer", "saved", filepath="/elsewhere"),
            ],
        },
        # Never deserialized (loaded with compile=False), often custom: not a reason to refuse.
        "compile_config": {
            "loss": {"module": "my_company.losses", "class_name": "function", "config": "focal"}
        },
    }
    found = {(item.layer, item.what) for item in scan_config(config)}
    assert found == {
        ("evil", "Lambda"),
        ("custom", "my_company.layers.MyBlock"),
        ("fetch", "function keras.utils.get_file"),
        ("saved", "TFSMLayer"),
    }


def test_scan_passes_real_application_configs(saved):
    from shapetrace.models.applications import build_application
    from shapetrace.models.catalog import APPLICATIONS

    model = build_application(APPLICATIONS["mobilenetv3small"], size=(32, 32))
    config = json.loads(json.dumps(model.get_config(), default=str))
    assert scan_config({"module": "keras", "class_name": "Functional", "config": config}) == ()
    assert scan_config(read_saved_config(saved["keras"])) == ()
    assert scan_config(read_saved_config(saved["h5"])) == ()


# --------------------------------------------------------------------------- saved files


@pytest.mark.parametrize("kind", ["keras", "h5"])
def test_saved_model_traces_with_its_own_input(saved, kind):
    from shapetrace.api import trace

    result = trace(str(saved[kind]))
    assert result.probe.shape == (1, 12, 12, 2)
    assert [layer.name for layer in result.layers] == ["pixels", "conv", "flat"]
    assert result.layers[-1].output == (1, 10 * 10 * 5)
    assert result.request["model"] == str(saved[kind])
    assert trace(str(saved[kind]), channels=1, size="14x14").probe.shape == (1, 14, 14, 1)


@pytest.mark.parametrize("kind", ["keras", "h5"])
def test_lambda_file_is_refused_and_its_code_never_runs(trojan, kind):
    with pytest.raises(UsageError) as info:
        load_model(str(trojan[kind]))
    message = str(info.value)
    assert "'evil'" in message and "Lambda" in message and "unsafe_load=True" in message
    assert "\n" not in message
    assert not trojan["marker"].exists()


def test_unsafe_load_runs_the_code_and_warns(trojan):
    """The control for the refusal above: the crafted file really does write its file."""
    with pytest.warns(UnsafeLoadWarning, match="evil"):
        model = load_model(str(trojan["keras"]), unsafe_load=True)
    assert model.name == "trojan"
    assert trojan["marker"].exists()
    trojan["marker"].unlink()


def test_safe_mode_is_never_switched_on_globally(trojan):
    from shapetrace.tracing._keras_graph import keras

    with pytest.warns(UnsafeLoadWarning):
        load_model(str(trojan["keras"]), unsafe_load=True)
    trojan["marker"].unlink(missing_ok=True)
    # Keras's own default load still refuses the Lambda: nothing was enabled process-wide.
    with pytest.raises(ValueError, match="Lambda"):
        keras.saving.load_model(str(trojan["keras"]))
    assert not trojan["marker"].exists()


def test_missing_file(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        load_model(str(tmp_path / "nope.keras"))


def test_truncated_keras_file(saved, tmp_path):
    data = saved["keras"].read_bytes()
    broken = tmp_path / "broken.keras"
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(UsageError, match="corrupt or truncated"):
        load_model(str(broken))


def test_keras_file_that_is_not_a_zip(tmp_path):
    path = tmp_path / "text.keras"
    path.write_text("hello")
    with pytest.raises(UsageError, match="not a readable .keras archive"):
        load_model(str(path))


# A .keras zip without config.json: tests/test_cli_check.py::test_keras_zip_without_config (end to end).


def test_keras_zip_with_bad_weights(saved, tmp_path):
    path = tmp_path / "badweights.keras"
    with zipfile.ZipFile(saved["keras"]) as source, zipfile.ZipFile(path, "w") as target:
        for name in source.namelist():
            target.writestr(name, b"garbage" if name.endswith(".h5") else source.read(name))
    with pytest.raises(UsageError, match="Keras could not load"):
        load_model(str(path))


def test_corrupt_h5(tmp_path):
    path = tmp_path / "bad.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 20)
    with pytest.raises(UsageError, match="not a readable HDF5 file"):
        load_model(str(path))


def test_weights_only_h5(saved):
    with pytest.raises(UsageError, match="weights only"):
        load_model(str(saved["weights"]))


# --------------------------------------------------------------------------- factories


def test_factory_file_with_args(factory_file):
    model = load_model(f"{factory_file}:build", factory_args={"channels": 2, "width": 6})
    assert tuple(model.inputs[0].shape) == (None, 16, 16, 2)
    assert model.outputs[0].shape[-1] == 6


def test_factory_module_from_working_directory(factory_file, monkeypatch):
    monkeypatch.chdir(factory_file.parent)
    model = load_model("models:build", factory_args=parse_factory_args(["width=3"]))
    assert model.outputs[0].shape[-1] == 3


def test_factory_gets_fresh_names(factory_file):
    from shapetrace.tracing._keras_graph import keras

    for _ in range(3):  # what else the process built must not leak into the names
        keras.layers.Conv2D(2, 3)(keras.Input((8, 8, 1)))
    model = load_model(f"{factory_file}:build")
    assert [layer.name for layer in model.layers][1:] == ["conv2d", "global_average_pooling2d"]


@pytest.mark.parametrize(
    "function, expected",
    [
        ("raises", "raised RuntimeError when called with (): no GPU config found"),
        ("not_a_model", "returned a keras.src.layers.core.dense.Dense: expected a keras.Model"),
        ("NOT_CALLABLE", "is a int, not a function"),
        ("missing", "has no attribute 'missing'"),
    ],
)
def test_bad_factories(factory_file, function, expected):
    with pytest.raises(UsageError) as info:
        load_model(f"{factory_file}:{function}")
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


def test_factory_with_wrong_args(factory_file):
    with pytest.raises(UsageError, match=r"raised TypeError when called with \(depth=3\)"):
        load_model(f"{factory_file}:build", factory_args={"depth": 3})


def test_factory_import_errors_name_module_and_error(tmp_path, monkeypatch):
    (tmp_path / "broken_models.py").write_text("import not_installed_anywhere\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError) as info:
        load_model("broken_models:build")
    message = str(info.value)
    assert "'broken_models'" in message and "No module named 'not_installed_anywhere'" in message
    with pytest.raises(UsageError) as info:
        load_model("no_such_package.models:build")
    assert "'no_such_package.models'" in str(info.value) and "No module named 'no_such_package'" in str(
        info.value
    )
    with pytest.raises(UsageError) as info:
        load_model(f"{tmp_path / 'broken_models.py'}:build")
    assert "broken_models.py" in str(info.value) and "not_installed_anywhere" in str(info.value)
    with pytest.raises(UsageError, match="does not exist"):
        load_model(f"{tmp_path / 'absent.py'}:build")


def test_application_options_refused_for_user_models(factory_file):
    from shapetrace.api import trace

    with pytest.raises(UsageError, match="`native`"):
        trace(f"{factory_file}:build", native=True)
    with pytest.raises(UsageError, match="`factory_args`"):
        trace("resnet50", factory_args={"x": 1})


# --------------------------------------------------------------------------- several inputs


def test_one_probe_per_input_and_rows_name_their_input(factory_file):
    from shapetrace.api import trace

    result = trace(f"{factory_file}:two_inputs", inputs={"image": "20x20x3"})
    assert [(p.name, p.shape) for p in result.probes] == [("image", (1, 20, 20, 3)), ("meta", (1, 4))]
    sources = {layer.name: layer.sources for layer in result.layers}
    assert sources["conv2d"] == ("image",)
    assert sources["dense"] == ("meta",)
    assert sources["concatenate"] == ("image", "meta")
    assert result.to_dict()["layers"][0]["sources"] == ["image"]
    assert result.request["inputs"] == {"image": [20, 20, 3]}


def test_break_names_its_input(factory_file):
    from shapetrace.api import trace

    result = trace(f"{factory_file}:two_inputs", inputs={"meta": "7"})
    assert result.broken is not None
    assert result.broken.layer.endswith("/dense")
    assert result.broken.sources == ("meta",)
    assert result.to_dict()["broken"]["sources"] == ["meta"]


def test_single_input_records_have_no_sources(factory_file):
    from shapetrace.api import trace

    data = trace(f"{factory_file}:build").to_dict()
    assert all("sources" not in layer for layer in data["layers"])


def test_bad_input_overrides(factory_file):
    from shapetrace.api import trace

    with pytest.raises(UsageError, match="no input named 'label'; its inputs are image"):
        trace(f"{factory_file}:two_inputs", inputs={"label": "3"})
    with pytest.raises(UsageError, match="give 1 dimensions"):
        trace(f"{factory_file}:two_inputs", inputs={"meta": "2x2"})
