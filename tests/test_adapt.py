"""``shapetrace adapt``: each method's equivalence, checked on real applications and user models.

Random weights saved to a file by the test stand in for pretrained ones (no network here); their
BatchNorm statistics and EfficientNet's per-channel Normalization are made distinct first, so a
fold that ignored them would show. Every written file is loaded back with plain
``keras.saving.load_model(..., safe_mode=True)``.
"""

from __future__ import annotations

import errno

import numpy as np
import pytest

from shapetrace.adapt.fold import adapt, adapt_model, probe_map, save_adapted
from shapetrace.errors import UsageError, VerificationFailed
from shapetrace.models.applications import build_application
from shapetrace.models.catalog import resolve_application
from shapetrace.options import AdaptMethod
from shapetrace.tracing._keras_graph import keras

SIZE = (32, 32)
MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])


def pretrained_like(model, seed: int = 0):
    """Give every BatchNorm distinct moving statistics and per-channel Normalization ImageNet's."""
    rng = np.random.default_rng(seed)
    for layer in _layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0, 0.1, n).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, n).astype("float32"))
            if layer.scale:
                layer.gamma.assign(rng.uniform(0.5, 1.5, n).astype("float32"))
        elif (
            isinstance(layer, keras.layers.Normalization)
            and layer.get_weights()
            and layer.mean.shape[-1] == 3
        ):
            mean, _, count = layer.get_weights()
            layer.set_weights([MEAN.reshape(mean.shape), (STD**2).reshape(mean.shape), count])
    return model


def _layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _layers(layer)


def weights_file(tmp_path, name: str) -> str:
    model = pretrained_like(build_application(resolve_application(name), size=SIZE, pooling="avg"))
    path = tmp_path / f"{name}.weights.h5"
    model.save_weights(path)
    return str(path)


def reference(name: str, weights: str, mapped: np.ndarray) -> np.ndarray:
    """The original 3-channel application, weights from the file, on the mapped probe."""
    original = build_application(resolve_application(name), size=SIZE, pooling="avg", weights=weights)
    return np.asarray(original(mapped, training=False), dtype="float64")


def gray(seed: int = 5, channels: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (2, *SIZE, channels)).astype("float32")


def check_written(path, x: np.ndarray, want: np.ndarray) -> keras.Model:
    """The file loads in safe mode with plain Keras and matches ``want`` to 1e-4 of its scale."""
    loaded = keras.saving.load_model(path, safe_mode=True, compile=False)
    assert loaded.inputs[0].shape[-1] == x.shape[-1]
    got = np.asarray(loaded(x, training=False), dtype="float64")
    scale = max(1.0, float(np.abs(want).max()))
    assert float(np.abs(want).max()) > 1e-3  # the outputs carry signal, not a vanished activation
    assert np.abs(got - want).max() <= 1e-4 * scale
    return loaded


def adapt_application(tmp_path, name: str, channels: int = 1, method=None):
    weights = weights_file(tmp_path, name)
    adapted = adapt(name, channels=channels, method=method, size=SIZE, weights=weights, pooling="avg")
    report = save_adapted(adapted, tmp_path / f"{name}_{channels}ch.keras")
    x = gray(channels=channels)
    p = np.asarray(report.probe_map)
    want = reference(name, weights, np.einsum("bhwn,cn->bhwc", x, p).astype("float32"))
    check_written(report.output, x, want)
    return report


# ---------------------------------------------------------------- keras.applications, 1 channel


@pytest.mark.slow
def test_resnet50_sum_stem_is_the_default_and_exact(tmp_path):
    report = adapt_application(tmp_path, "resnet50")
    assert report.method == "sum-stem" and report.fold.stem == "conv1_conv"
    assert report.fold.folded == () and report.fold.exact_at_borders
    assert report.first_change.endswith("conv1_conv (Conv2D)") and report.reloaded
    assert "declared 1 channel" in report.verdict or "matches the declared 1 channel" in report.verdict


@pytest.mark.slow
def test_convnext_tiny_folds_its_prestem_normalization_into_the_nested_stem(tmp_path):
    """ConvNeXt's 4×4/4 stem conv (inside a nested Sequential) has no padding: the fold of the
    per-channel Normalization in front is exact everywhere, its offsets going into the conv's bias."""
    report = adapt_application(tmp_path, "convnexttiny")
    assert report.method == "sum-stem"
    assert report.fold.folded == ("convnext_tiny_prestem_normalization",)
    assert report.fold.constant_into == "convnext_tiny_stem_conv.bias" and report.fold.exact_at_borders


@pytest.mark.slow
def test_efficientnet_b0_defaults_to_repeat_and_refuses_an_inexact_sum_stem(tmp_path):
    """Behind per-channel normalisation a zero-padded stem cannot be folded exactly at the border:
    the default is repeat (exact, a copy); --method sum-stem is refused saying by how much."""
    report = adapt_application(tmp_path, "efficientnetb0")
    assert report.method == "repeat" and report.max_abs_difference == 0.0
    assert "stem_conv" in report.fallback and "border" in report.fallback
    with pytest.raises(
        UsageError,
        match=r"sum-stem is not exact for efficientnetb0: `stem_conv` zero-pads after .*`normalization`.* the output of `stem_bn` \(its values reach [0-9.e+-]+\) differs .* by up to [0-9.e+-]+; it is exact inside the image; use method=repeat",
    ) as info:
        adapt(
            "efficientnetb0",
            channels=1,
            method="sum-stem",
            size=SIZE,
            weights=weights_file(tmp_path, "efficientnetb0"),
            pooling="avg",
        )
    assert "\n" not in str(info.value)
    measured = float(str(info.value).split("by up to ")[1].split(";")[0])
    assert measured > 1e-2  # a real difference, not rounding


@pytest.mark.slow
def test_mobilenet_v2_to_one_and_four_channels(tmp_path):
    one = adapt_application(tmp_path, "mobilenetv2")
    assert one.method == "sum-stem" and one.fold.stem == "Conv1" and one.fold.exact_at_borders
    four = adapt_application(tmp_path, "mobilenetv2", channels=4)
    assert four.method == "sum-stem" and four.declared == (None, 32, 32, 4)
    # timm's rule for N=4: channels 0 and 3 both take the red kernel, everything scaled by 3/4.
    assert np.allclose(four.probe_map, [[0.75, 0, 0, 0.75], [0, 0.75, 0, 0], [0, 0, 0.75, 0]])
    assert "(0.75x0 + 0.75x3, 0.75x1, 0.75x2)" in four.guarantee


# ---------------------------------------------------------------- a user's own model


def digits_cnn(normalize: bool = False, padding: str = "valid", stem: str = "conv"):
    """The Keras "simple MNIST convnet" example, on 3-channel 28×28 images."""
    layers = keras.layers
    inputs = keras.Input((28, 28, 3), name="pixels")
    x = layers.Rescaling(1 / 255.0, name="scale")(inputs)
    if normalize:
        x = layers.Normalization(mean=list(MEAN), variance=list(STD**2), name="imagenet_norm")(x)
    if stem == "conv":
        x = layers.Conv2D(32, 3, padding=padding, activation="relu", name="stem")(x)
    else:
        x = layers.SeparableConv2D(32, 3, activation="relu", name="sep_stem")(x)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(64, 3, activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(0.5, name="dropout")(x)
    outputs = layers.Dense(10, name="logits")(x)
    model = keras.Model(inputs, outputs, name="digits_cnn")
    rng = np.random.default_rng(1)
    for layer in model.layers:  # trained-looking weights: biases too
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            layer.set_weights(
                [w + rng.normal(0, 0.05, w.shape).astype("float32") for w in layer.get_weights()]
            )
    return model


def user_file(tmp_path, **options) -> tuple[str, keras.Model]:
    model = digits_cnn(**options)
    path = tmp_path / "digits_cnn.keras"
    model.save(path)
    return str(path), model


def mapped_reference(model, x, report) -> np.ndarray:
    mapped = np.einsum("bhwn,cn->bhwc", x, np.asarray(report["probe_map"])).astype("float32")
    return np.asarray(model(mapped, training=False), dtype="float64")


def test_user_keras_file_to_one_channel_by_cli(tmp_path, cli):
    path, model = user_file(tmp_path, normalize=True)
    out = tmp_path / "digits_gray.keras"
    code, stdout, stderr = cli("adapt", path, "--channels", "1", "-o", out, "--format", "json")
    assert code == 0, stderr
    import json

    report = json.loads(stdout)
    assert report["method"] == "sum-stem" and report["fold"]["folded"] == ["imagenet_norm"]
    assert report["fold"]["constant_into"] == "stem.bias" and report["fold"]["exact_at_borders"]
    assert report["max_abs_difference"] <= report["tolerance"] and report["reloaded"]
    assert report["first_change"].endswith("stem (Conv2D)")
    x = np.random.default_rng(3).uniform(0, 255, (4, 28, 28, 1)).astype("float32")
    loaded = check_written(out, x, mapped_reference(model, x, report))
    assert loaded.get_layer("stem").kernel.shape == (3, 3, 1, 32)
    assert [p.name for p in tmp_path.iterdir()] == ["digits_cnn.keras", "digits_gray.keras"] or sorted(
        p.name for p in tmp_path.iterdir()
    ) == ["digits_cnn.keras", "digits_gray.keras"]


def test_table_output_states_method_guarantee_check_and_verdict(tmp_path, cli):
    path, _ = user_file(tmp_path)
    out = tmp_path / "gray.keras"
    code, stdout, stderr = cli("adapt", path, "-c", "1", "-o", out)
    assert code == 0, stderr
    assert (
        "method     sum-stem: rebuilt for 1 channel; `stem`'s kernel summed over its 3 input channels"
        in stdout
    )
    assert (
        "guarantee  adapted(x) = digits_cnn(the channel repeated 3 times) exactly, padding included" in stdout
    )
    assert "check      max |adapted(x) − original(P·x)| = " in stdout and " ✓" in stdout
    assert (
        "trace      The probe matches the declared 1 channel; the first change is at `stem` (Conv2D)"
        in stdout
    )
    assert "loads with keras.saving.load_model(safe_mode=True)" in stdout


def test_padding_behind_per_channel_normalization_falls_back_to_repeat(tmp_path, cli):
    path, model = user_file(tmp_path, normalize=True, padding="same")
    out = tmp_path / "gray.keras"
    code, stdout, stderr = cli("adapt", path, "-c", "1", "-o", out, "--format", "json")
    assert code == 0, stderr
    import json

    report = json.loads(stdout)
    assert report["method"] == "repeat" and report["max_abs_difference"] == 0.0
    assert "`stem` zero-pads after the per-channel offsets of `imagenet_norm`" in report["fallback"]
    loaded = keras.saving.load_model(out, safe_mode=True, compile=False)
    assert type(loaded.get_layer("repeat_channels")).__name__ == "Concatenate"
    x = np.random.default_rng(4).uniform(0, 255, (2, 28, 28, 1)).astype("float32")
    np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(model(np.repeat(x, 3, axis=-1))))
    # Asked for explicitly, sum-stem is refused with the measured border difference, and nothing is written.
    out.unlink()
    code, stdout, stderr = cli("adapt", path, "-c", "1", "-o", out, "--method", "sum-stem")
    assert code == 2 and stdout == "" and len(stderr.strip().splitlines()) == 1
    assert (
        "sum-stem is not exact for digits_cnn: `stem` zero-pads after the per-channel offsets of `imagenet_norm`"
        in stderr
    )
    assert (
        "at the image border the output of `stem` (its values reach " in stderr
        and "differs from the original's on the mapped probe by up to " in stderr
    )
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["digits_cnn.keras"]


def test_four_channels_mean_and_sum_stem(tmp_path, cli):
    path, model = user_file(tmp_path)
    x = np.random.default_rng(6).uniform(0, 255, (2, 28, 28, 4)).astype("float32")
    for method in ("mean", "sum-stem"):
        out = tmp_path / f"four_{method}.keras"
        code, stdout, stderr = cli(
            "adapt", path, "-c", "4", "-o", out, "--method", method, "--format", "json"
        )
        assert code == 0, stderr
        import json

        report = json.loads(stdout)
        assert report["method"] == method and report["declared"] == [None, 28, 28, 4]
        check_written(out, x, mapped_reference(model, x, report))
    assert np.allclose(probe_map(AdaptMethod.mean, 4), [[0.5, 0, 0, 0.5], [0, 1, 0, 0], [0, 0, 1, 0]])
    loaded = keras.saving.load_model(tmp_path / "four_mean.keras", safe_mode=True, compile=False)
    front = loaded.get_layer("mean_channels")
    assert type(front).__name__ == "Conv2D" and not front.trainable


def test_a_stem_that_is_not_a_plain_conv_is_refused_naming_it(tmp_path, cli):
    path, _ = user_file(tmp_path, stem="separable")
    out = tmp_path / "gray.keras"
    out.write_bytes(b"an older file the user keeps")
    code, stdout, stderr = cli("adapt", path, "-c", "1", "-o", out, "--method", "sum-stem")
    assert code == 2 and stdout == ""
    assert stderr.strip().splitlines() == [
        "error: sum-stem: digits_cnn's input does not reach a plain first convolution: `sep_stem` is a "
        "SeparableConv2D, not a Conv2D (only Rescaling, Normalization and ZeroPadding2D may stand before it); "
        "use --method repeat."
    ]
    assert out.read_bytes() == b"an older file the user keeps"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits_cnn.keras", "gray.keras"]


def test_a_failed_write_leaves_nothing_and_keeps_the_old_file(tmp_path, cli, monkeypatch):
    path, _ = user_file(tmp_path)
    out = tmp_path / "gray.keras"
    out.write_bytes(b"old")

    def full_disk(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as handle:
            handle.write(b"half a model")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(keras.Model, "save", full_disk)
    code, stdout, stderr = cli("adapt", path, "-c", "1", "-o", out)
    assert code == 2 and stdout == ""
    assert stderr.strip().splitlines() == [
        f"error: Cannot write '{out}' (No space left on device): nothing written."
    ]
    assert out.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits_cnn.keras", "gray.keras"]


def test_a_failed_check_is_exit_one_before_writing(tmp_path):
    model = digits_cnn()
    with pytest.raises(
        VerificationFailed, match=r"differs from digits_cnn on the mapped probe by .*nothing written"
    ):
        adapt_model(model, channels=1, method="sum-stem", tolerance=0.0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-c", "3"], "already declared for 3 channels"),
        (
            ["-c", "4", "--method", "repeat"],
            "--method repeat copies fewer than 3 channels into 3; for 4 use --method mean or sum-stem.",
        ),
        (["-c", "1", "--method", "mean"], "--method mean averages more than 3 channels into 3"),
    ],
)
def test_bad_requests_are_one_line_exit_two(tmp_path, cli, args, message):
    out = tmp_path / "x.keras"
    code, stdout, stderr = cli("adapt", "resnet50", *args, "-o", out)
    assert code == 2 and message in stderr and len(stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_output_must_be_a_keras_file_in_an_existing_folder(tmp_path, cli):
    code, _, stderr = cli("adapt", "resnet50", "-c", "1", "-o", tmp_path / "model.h5")
    assert code == 2 and "give a path ending in .keras" in stderr
    code, _, stderr = cli("adapt", "resnet50", "-c", "1", "-o", tmp_path / "missing" / "m.keras")
    assert code == 2 and "does not exist" in stderr
    assert list(tmp_path.iterdir()) == []


def test_two_channels_repeat_copies_cyclically_with_a_builtin_layer(tmp_path):
    model = digits_cnn()
    adapted = adapt_model(model, channels=2, method="repeat")
    assert np.array_equal(probe_map(AdaptMethod.repeat, 2), [[1, 0], [0, 1], [1, 0]])
    report = save_adapted(adapted, tmp_path / "two.keras")
    loaded = keras.saving.load_model(report.output, safe_mode=True, compile=False)
    x = np.random.default_rng(7).uniform(0, 255, (2, 28, 28, 2)).astype("float32")
    copied = np.concatenate([x, x[..., :1]], axis=-1)
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(copied)), rtol=0, atol=1e-6)
    assert report.guarantee == "adapted(x) = digits_cnn((x0, x1, x0)) exactly (a copy)"


def test_a_user_model_keeps_its_declared_size(tmp_path):
    with pytest.raises(
        UsageError, match=r"size=32x32: digits_cnn is declared for 28x28, and adapt keeps the declared size"
    ):
        adapt_model(digits_cnn(), channels=1, size=(32, 32))


def test_report_renders_as_in_the_readme(golden):
    """The rendered report, from a report built whole (the figures of the README's real run)."""
    from shapetrace.adapt.fold import AdaptReport, StemFold
    from shapetrace.render.adapt import adapt_report
    from shapetrace.render.text import render_text

    def render_plain(report):  # as the CLI prints it piped: never wrapped
        rendered = adapt_report(report)
        return render_text(rendered, measure=rendered)

    report = AdaptReport(
        model="resnet50",
        adapted="resnet50",
        channels=1,
        method="sum-stem",
        note="sum-stem: rebuilt for 1 channel; `conv1_conv`'s kernel summed over its 3 input channels (timm's adapt_input_conv)",
        guarantee="adapted(x) = resnet50(the channel repeated 3 times) exactly, padding included",
        probe_map=((1.0,), (1.0,), (1.0,)),
        declared=(None, 224, 224, 1),
        original_declared=(None, 224, 224, 3),
        probe=(2, 224, 224, 1),
        max_abs_difference=9.92e-05,
        tolerance=0.00616,
        reference_scale=61.6,
        verdict="The probe matches the declared 1 channel; the first change is at `conv1_conv` (Conv2D): Conv2D with filters=64.",
        first_change="resnet50/conv1_conv (Conv2D)",
        fold=StemFold(stem="conv1_conv", folded=(), constant_into=None, exact_at_borders=True),
        output="resnet50_gray.keras",
        output_bytes=94_971_234,
        reloaded=True,
    )
    golden("adapt_resnet50.txt", render_plain(report))
    assert report.ok and report.to_dict()["fold"]["exact_at_borders"] is True
    failed = AdaptReport(**{**report.__dict__, "max_abs_difference": 0.01, "output": None, "reloaded": False})
    text = render_plain(failed)
    assert text.splitlines()[3].endswith("✗") and "wrote" not in text
