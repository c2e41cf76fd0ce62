"""Any Keras model: the call recorder (subclassed models, custom layers) and probes for any input.

The recorder's and the probes' own rules are tested in test_recorder and test_probes; here, the
user models end to end.

Every expectation is computed from Keras in the test: a recorded call's output shape is what
running that very sublayer on a tensor of the recorded input shape gives; the last row is
what ``model(x)`` gives; params add up to ``model.count_params()``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import user_models as um
from conftest import render_plain

from shapetrace.api import trace, trace_model
from shapetrace.errors import UsageError
from shapetrace.models.loading import parse_input_shapes
from shapetrace.tracing import _keras_graph as kg
from shapetrace.tracing.probes import make_probes
from shapetrace.tracing.report import trace_document
from shapetrace.tracing.selection import collapse_depth

keras = kg.keras
USER_MODELS = Path(__file__).parent / "user_models.py"

# Probes for models whose declared input leaves something open or that was never built.
INPUTS = {"ticket_classifier": {"title": (10,), "body": (20,)}, "resnetish_unbuilt": {"": (32, 32, 3)}}
# A probe that does not fit each model, as CLI options: it must end in a break row, exit 1.
MISFITS = {
    "unet": ["--channels", "4"],
    "text_transformer": ["--input", "300"],
    "siamese": ["--input", "left=28x28x3"],
    "ticket_classifier": ["--input", "title=10", "--input", "body=20", "--input", "tags=5"],
    "forecaster": ["--input", "120x3"],
    "ops_model": ["--channels", "4"],
    "audio_classifier": ["--input", "8000x2"],
    "mobilenet_transfer": ["--channels", "1"],
    "resnetish_called": ["--channels", "1"],
    "resnetish_unbuilt": ["--input", "32x32"],  # built by the probe: only a wrong rank breaks it
    "vae_called": ["--input", "100"],
}
# Kept in the default run (the rest are marked slow): subclassed, custom layers, several inputs.
DEFAULT = ("resnetish_called", "vae_called", "text_transformer", "ticket_classifier")


def _models(default=DEFAULT):
    return [
        name if name in default else pytest.param(name, marks=pytest.mark.slow) for name in um.USER_MODELS
    ]


# --------------------------------------------------------------------------- the recorder


@pytest.mark.slow
def test_every_user_model_keeps_the_params_invariant_and_ends_with_the_model_output():
    for name, factory in um.USER_MODELS.items():
        model = factory()
        given = INPUTS.get(name)
        result = trace_model(model, inputs=given)
        assert result.ok, (name, result.broken)
        assert sum(row.params for row in result.layers) == model.count_params(), name
        arrays = make_probes(model, channels=None, size=None, batch=1, inputs=given)[1]
        out = model(arrays[0] if len(arrays) == 1 else arrays, training=False)
        shapes = {tuple(t.shape) for t in kg.flatten_tensors(out)}
        assert result.layers[-1].output in shapes, name


def test_a_saved_model_with_custom_layers_traces_like_its_factory(tmp_path):
    model = um.text_transformer()
    path = tmp_path / "text_transformer.keras"
    model.save(path)
    # The custom classes are registered (user_models is imported); --import will provide them
    # to the CLI. They come from outside keras, so the file is loaded only on request.
    with pytest.warns(UserWarning):
        from_file = trace(str(path), unsafe_load=True)
    from_factory = trace_model(um.text_transformer())
    assert [(r.type, r.container, r.output) for r in from_file.layers] == [
        (r.type, r.container, r.output) for r in from_factory.layers
    ]


def test_depth_collapses_a_block_into_its_own_row_with_its_sums():
    model = um.resnetish_called()
    rows = trace_model(model).layers
    collapsed = collapse_depth(rows, 0)
    blocks = [row for row in collapsed if row.type.startswith("ResidualBlock")]
    assert len(blocks) == 3
    for block in blocks:
        inside = [r for r in rows if r.path == block.path or r.path.startswith(block.path + "/")]
        assert block.params == sum(r.params for r in inside)
        assert block.output == next(r.output for r in rows if r.path == block.path)
    assert sum(r.params for r in collapsed) == model.count_params()
    assert len({r.path for r in collapsed}) == len(collapsed)


def test_subclassed_table_golden(golden):
    from shapetrace.render.table import trace_table

    kg.reset_naming()  # auto-generated names (conv2d_3) count the layers built before in this process
    golden(
        "resnetish_table.txt",
        render_plain(trace_table(trace_model(um.resnetish_called()), changes_only=False)),
    )


# --------------------------------------------------------------------------- CLI, end to end


@pytest.fixture
def project(tmp_path) -> Path:
    """The user models copied into a project folder: factory and baselines side by side."""
    shutil.copy(USER_MODELS, tmp_path / "user_models.py")
    return tmp_path


def _input_args(name: str) -> list[str]:
    args = []
    for key, dims in INPUTS.get(name, {}).items():
        args += ["--input", (f"{key}=" if key else "") + "x".join(map(str, dims))]
    return args


@pytest.mark.parametrize("name", _models())
def test_cli_trace_json_snapshot_check(name, project, cli):
    spec = f"{project / 'user_models.py'}:{name}"
    code, out, err = cli("trace", spec, *_input_args(name))
    assert code == 0, err
    assert "Verdict: ok." in out
    code, out, err = cli("trace", spec, *_input_args(name), "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["verdict"] == "ok"
    assert sum(layer["params"] for layer in data["layers"]) == data["totals"]["params"]
    assert all(p["kind"] in ("image", "signal", "sequence", "features", "tokens") for p in data["probes"])
    baseline = project / f"{name}.json"
    code, out, err = cli("snapshot", spec, *_input_args(name), "-o", baseline)
    assert code == 0, err
    code, out, err = cli("check", baseline)
    assert code == 0, err + out
    assert "matches" in out


@pytest.mark.parametrize("name", _models(default=("resnetish_called", "vae_called", "text_transformer")))
def test_cli_a_probe_that_does_not_fit_ends_in_a_break_row(name, project, cli):
    spec = f"{project / 'user_models.py'}:{name}"
    code, out, err = cli("trace", spec, *MISFITS[name], "--format", "json")
    assert code == 1, err
    data = json.loads(out)
    broken, last = data["broken"], data["layers"][-1]
    assert broken is not None and last["output"] is None and last["path"] == broken["layer"]
    assert broken["index"] == last["index"] == len(data["layers"]) - 1
    assert broken["received"] == ", ".join(
        "(" + ", ".join(map(str, s)) + ("," if len(s) == 1 else "") + ")" for s in last["inputs"]
    )
    assert broken["expected"] not in ("", "-")
    # Keras itself refuses the same probe.
    model = um.USER_MODELS[name]()
    shapes = [p["shape"] for p in data["probes"]]
    arrays = [np.zeros(s, "float32") for s in shapes]
    with pytest.raises(Exception):  # noqa: B017 - Keras raises a different type per layer
        model(arrays[0] if len(arrays) == 1 else arrays, training=False)
    # The hint names what applies to a user model.
    code, out, _ = cli("trace", spec, *MISFITS[name])
    assert "--native" not in out and "shapetrace train" not in out


def test_break_inside_a_subclassed_model_is_the_innermost_call(cli, project):
    spec = f"{project / 'user_models.py'}:vae_called"
    code, out, err = cli("trace", spec, "--input", "100")
    assert code == 1
    assert "autoencoder/encoder/dense" in out and "expected (None, 784), received (1, 100)" in out
    assert "Hint: The model declares (None, 784): try --input 784." in out


# --------------------------------------------------------------------------- probes


def test_input_shapes_with_and_without_names():
    assert parse_input_shapes(["32x32x3"]) == {"": (32, 32, 3)}
    assert parse_input_shapes(["120x7"]) == {"": (120, 7)}
    assert parse_input_shapes("200") == {"": (200,)}
    assert parse_input_shapes((8, 8)) == {"": (8, 8)}
    assert parse_input_shapes(["title=10", "body=2x3x4x5"]) == {"title": (10,), "body": (2, 3, 4, 5)}
    for bad in (["=3"], ["3", "4"], ["x=0"], ["1.5"], ["a=b"], ["x=3", "x=4"]):
        with pytest.raises(UsageError, match="inputs") as info:
            parse_input_shapes(bad)
        assert info.value.params == ("inputs",)


def test_unbuilt_model_takes_its_probe_from_input(cli, project):
    spec = f"{project / 'user_models.py'}:resnetish_unbuilt"
    code, out, err = cli("trace", spec)
    assert code == 2 and err.count("\n") == 1 and "never built" in err and "--input" in err
    built = trace_model(um.resnetish_unbuilt(), inputs={"": (32, 32, 3)})
    called = trace_model(um.resnetish_called())
    assert [(r.type, r.output) for r in built.layers] == [(r.type, r.output) for r in called.layers]


@pytest.mark.parametrize(
    "args, words",
    [
        (["resnet50", "--size", "1000000000x1000000000"], "needs"),
        (["resnet50", "--size", "100000"], "memory available"),
    ],
)
def test_absurd_sizes_are_one_line_exit_2(args, words, cli):
    code, out, err = cli(*args)
    assert code == 2 and out == "" and err.count("\n") == 1 and words in err, err


def test_absurd_user_probe_is_refused_before_allocating(cli, project):
    spec = f"{project / 'user_models.py'}:unet"
    code, out, err = cli("trace", spec, "--input", "1000000x1000000x3")
    assert code == 2 and err.count("\n") == 1 and "memory available" in err


# --------------------------------------------------------------------------- words


def test_words_fit_the_input():
    kinds = {
        name: [
            p.kind
            for p in make_probes(
                um.USER_MODELS[name](), channels=None, size=None, batch=1, inputs=INPUTS.get(name)
            )[0]
        ]
        for name in ("text_transformer", "forecaster", "audio_classifier", "vae_called", "ticket_classifier")
    }
    assert kinds == {
        "text_transformer": ["tokens"],
        "forecaster": ["sequence"],
        "audio_classifier": ["signal"],
        "vae_called": ["features"],
        "ticket_classifier": ["tokens", "tokens", "features"],
    }
    text = trace_model(um.text_transformer())
    assert "channel" not in trace_document(text)["summary"]
    assert text.probe.channels is None and text.to_dict()["probe"]["kind"] == "tokens"
    assert "token ids" in trace_document(text)["summary"]
    image = trace_model(um.resnetish_called(), channels=1)
    assert "1 channel" in trace_document(image)["summary"]
    # The table speaks the same words: no "ch" column, no "channel count", no "None" counts.
    from shapetrace.render.table import trace_table

    table = render_plain(trace_table(text))
    header = next(line for line in table.splitlines() if "layer" in line and "actual" in line)
    assert "last axis" in header and " ch " not in header
    assert "channel" not in table and "None →" not in table
    assert "- → 32" in table  # the positions (an unbatched vector) become 32-vectors
    assert " ch " in render_plain(trace_table(image))


def test_both_engines_open_custom_layers_alike():
    model = um.text_transformer()
    stream, submodels = trace_model(model), trace_model(model, engine="submodels")
    assert [(r.path, r.output, r.params, r.container) for r in stream.layers] == [
        (r.path, r.output, r.params, r.container) for r in submodels.layers
    ]


def test_a_baseline_asking_for_an_absurd_size_is_one_line_exit_2(tmp_path, cli):
    baseline = tmp_path / "resnet50.json"
    code, _, err = cli("snapshot", "resnet50", "--size", "32", "-o", baseline)
    assert code == 0, err
    document = json.loads(baseline.read_text())
    document["request"]["size"] = [100000, 100000]
    baseline.write_text(json.dumps(document))
    before = baseline.read_text()
    code, out, err = cli("check", baseline)
    assert code == 2 and "memory available" in err and "Traceback" not in err, err
    assert baseline.read_text() == before and sorted(p.name for p in tmp_path.iterdir()) == ["resnet50.json"]
