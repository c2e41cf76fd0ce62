"""Baselines: writing, comparing as data, every kind of mismatch, update, CI, bad baselines."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest
from toy_models import hand_trace

from shapetrace.baselines.baseline import BASELINE_SCHEMA, load_baseline, obtained_path, snapshot
from shapetrace.baselines.check import check_baseline, check_trace
from shapetrace.baselines.diff import diff_traces
from shapetrace.errors import UsageError
from shapetrace.testing import ShapesDiffer, assert_shapes

SHAPES = Path(__file__).parent / "shapes"

# One factory whose keyword arguments switch on each kind of structural change.
FACTORY = textwrap.dedent(
    """
    import keras
    from keras import layers

    def build(channels=1, width=8, extra=False, head=True, to_rgb=False, size=16):
        inputs = keras.Input((size, size, channels), name="image")
        x = inputs
        if to_rgb:  # a 1 -> 3 channel change appears
            x = layers.Conv2D(3, 1, name="to_rgb")(x)
        x = layers.Conv2D(width, 3, name="stem")(x)
        if extra:
            x = layers.Conv2D(width, 1, name="extra")(x)
        x = layers.GlobalAveragePooling2D(name="pool")(x)
        if head:
            x = layers.Dense(4, name="head")(x)
        return keras.Model(inputs, x, name="net")
    """
)


@pytest.fixture(autouse=True)
def _not_in_ci(request):
    """These tests create baselines on purpose; the one about CI sets it itself."""
    if "project_application" not in request.node.name:
        request.getfixturevalue("writes_baselines")


@pytest.fixture
def factory(tmp_path) -> str:
    path = tmp_path / "net.py"
    path.write_text(FACTORY)
    return f"{path}:build"


def _kinds(result) -> dict[str, set[str]]:
    kinds: dict[str, set[str]] = {}
    for layer in result.diff.layers:
        names = {c.field for c in layer.changes} or {layer.status}
        kinds.setdefault(layer.path.split("/")[-1], set()).update(names)
    return kinds


def _rewrite_factory(spec: str, **defaults) -> None:
    """Change the factory's defaults in place: the code changed, the baseline did not."""
    path = Path(spec.rsplit(":", 1)[0])
    text = path.read_text()
    for key, value in defaults.items():
        text = text.replace(f"{key}=", f"{key}={value!r}, _old_{key}=", 1)
    path.write_text(text)


# --------------------------------------------------------------------------- writing


def test_snapshot_file_reads_well_in_review(factory, tmp_path):
    path = tmp_path / "shapes" / "net.json"
    path.parent.mkdir()
    trace = snapshot(factory, path, factory_args={"width": 6})
    text = path.read_text()
    data = json.loads(text)
    assert text.endswith("}\n") and not text.endswith("\n\n")
    assert text.splitlines()[1].startswith('  "') and not text.splitlines()[1].startswith("   ")
    assert '"output": [1, 14, 14, 6]' in text  # a shape is one line in a review diff
    assert list(data) == sorted(data) and list(data["layers"][1]) == sorted(data["layers"][1])
    assert data["schema"] == BASELINE_SCHEMA
    assert "seconds" not in data["totals"]
    assert data["request"]["model"] == "../net.py:build"  # relative to the baseline's folder
    assert data["request"]["factory_args"] == {"width": 6}
    assert set(data["versions"]) >= {"keras", "tensorflow", "shapetrace"}
    assert len(data["layers"]) == len(trace.layers)
    assert [p.name for p in tmp_path.joinpath("shapes").iterdir()] == ["net.json"]  # no temp file left
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # an ordinary file, not mkstemp's 0600


def test_snapshot_refuses_bad_targets(factory, tmp_path):
    with pytest.raises(UsageError, match="must be a .json file"):
        snapshot(factory, tmp_path / "net.txt")
    with pytest.raises(UsageError, match="does not exist"):
        snapshot(factory, tmp_path / "missing" / "net.json")


def test_failed_model_leaves_no_baseline(tmp_path):
    path = tmp_path / "net.json"
    with pytest.raises(UsageError):
        snapshot(str(tmp_path / "absent.keras"), path)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_write_keeps_the_old_baseline(factory, tmp_path, monkeypatch):
    path = tmp_path / "net.json"
    snapshot(factory, path)
    before = path.read_text()

    def fail(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(UsageError, match="No space left on device"):
        snapshot(factory, path, factory_args={"width": 3})
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir() if p.suffix != ".py"] == ["net.json"]


# --------------------------------------------------------------------------- comparing


def test_match_and_data_not_text(factory, tmp_path):
    path = tmp_path / "net.json"
    snapshot(factory, path)
    # Re-indented, keys reversed: the same data.
    data = json.loads(path.read_text())
    path.write_text(json.dumps(dict(reversed(list(data.items()))), indent=7))
    result = check_baseline(path)
    assert result.status == "match" and not result.diff.differs
    assert result.diff.layers_total == 4
    assert not obtained_path(path).exists()


def test_shape_change(factory, tmp_path):
    path = tmp_path / "net.json"
    snapshot(factory, path)
    _rewrite_factory(factory, width=12)
    result = check_baseline(path)
    assert result.status == "differs" and result.failed
    assert result.diff.summary == "3 of 4 layers differ; total_params changed"
    stem = next(layer for layer in result.diff.layers if layer.path.endswith("/stem"))
    output = next(c for c in stem.changes if c.field == "output")
    assert (output.baseline, output.now) == ([1, 14, 14, 8], [1, 14, 14, 12])
    # The obtained file holds the new trace, next to the baseline, and is valid itself.
    obtained = obtained_path(path)
    assert obtained.name == "net.obtained.json"
    assert load_baseline(obtained).layers[1].output == (1, 14, 14, 12)
    assert result.accept_command == f"shapetrace check {path} --update"


def test_layers_added_and_removed(factory, tmp_path):
    path = tmp_path / "net.json"
    snapshot(factory, path)
    _rewrite_factory(factory, extra=True, head=False)
    kinds = _kinds(check_baseline(path))
    assert kinds == {"extra": {"added"}, "head": {"removed"}}


def test_channel_change_appears_and_vanishes(factory, tmp_path):
    path = tmp_path / "net.json"
    snapshot(factory, path)
    _rewrite_factory(factory, to_rgb=True)
    result = check_baseline(path)
    kinds = _kinds(result)
    assert kinds["to_rgb"] == {"added"}
    stem = next(layer for layer in result.diff.layers if layer.path.endswith("/stem"))
    change = next(c for c in stem.changes if c.field == "channels")
    assert change.baseline == "1 → 8 (conv)" and change.now == "3 → 8 (conv)"

    # The other way: a channel change that vanished (channels 8 → 8 through an identical conv).
    diff = diff_traces(
        hand_trace([("m/a", "Conv2D", (1, 4, 4, 1), (1, 4, 4, 8))]),
        hand_trace([("m/a", "Conv2D", (1, 4, 4, 8), (1, 4, 4, 8))]),
    )
    change = diff.layers[0].changes[0]
    assert (change.field, change.baseline, change.now) == ("channels", "1 → 8", None)


def test_verdict_and_break_change(factory, tmp_path):
    path = tmp_path / "net.json"
    snapshot(factory, path, channels=1)
    _rewrite_factory(factory, channels=3)  # the model now declares 3 channels; the probe stays 1
    result = check_baseline(path)
    fields = {c.field for c in result.diff.trace}
    assert {"verdict", "break"} <= fields
    verdict = next(c for c in result.diff.trace if c.field == "verdict")
    assert (verdict.baseline, verdict.now) == ("ok", "broken")


def test_version_drift_is_noted_not_failed(factory, tmp_path):
    path = tmp_path / "net.json"
    snapshot(factory, path)
    data = json.loads(path.read_text())
    data["versions"]["keras"] = "3.0.0"
    path.write_text(json.dumps(data))
    result = check_baseline(path)
    assert result.status == "match"
    assert [(c.field, c.baseline) for c in result.diff.versions] == [("keras", "3.0.0")]


def test_update_rewrites_and_clears_obtained(factory, tmp_path):
    path = tmp_path / "net.json"
    snapshot(factory, path)
    _rewrite_factory(factory, width=12)
    assert check_baseline(path).status == "differs"
    assert obtained_path(path).exists()
    assert check_baseline(path, update=True).status == "updated"
    assert not obtained_path(path).exists()
    assert check_baseline(path).status == "match"


def test_other_models_built_first_do_not_change_the_result(factory, tmp_path):
    from shapetrace.tracing._keras_graph import keras

    path = tmp_path / "net.json"
    snapshot(factory, path)
    for _ in range(3):
        keras.layers.Dense(2)(keras.layers.Conv2D(2, 3)(keras.Input((8, 8, 1))))
    assert check_baseline(path).status == "match"

    # A model object built after others carries names like conv2d_7: still the same baseline.
    def build():
        inputs = keras.Input((16, 16, 1))
        x = keras.layers.Conv2D(8, 3)(inputs)
        return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))

    object_path = tmp_path / "object.json"
    assert assert_shapes(build(), object_path, update=True).status == "created"
    for _ in range(2):
        build()
    model = build()
    assert model.layers[1].name != "conv2d"
    assert assert_shapes(model, object_path).status == "match"


# --------------------------------------------------------------------------- missing baselines


def test_missing_baseline_needs_update_and_never_in_ci(factory, tmp_path, monkeypatch):
    from shapetrace.api import trace

    path = tmp_path / "net.json"
    result = trace(factory)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(UsageError, match="create it with update=True"):
        check_trace(result, path)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(UsageError, match="and CI is set, so it is not created"):
        check_trace(result, path, update=True)
    assert not path.exists()
    monkeypatch.setenv("CI", "")
    assert check_trace(result, path, update=True).status == "created"
    assert json.loads(path.read_text())["schema"] == BASELINE_SCHEMA
    assert load_baseline(path).layers == result.layers


def test_check_of_a_missing_baseline(tmp_path):
    with pytest.raises(UsageError, match="shapetrace snapshot MODEL"):
        check_baseline(tmp_path / "absent.json")


# --------------------------------------------------------------------------- invalid baselines


@pytest.fixture
def good_baseline(factory, tmp_path) -> Path:
    path = tmp_path / "net.json"
    snapshot(factory, path)
    return path


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda d: "{not json", "is not valid JSON"),
        (lambda d: {**d, "schema": "something/2"}, "has schema 'something/2'"),
        (lambda d: {**d, "schema": "shapetrace.trace/1"}, "`shapetrace trace --format json` output"),
        (lambda d: [1, 2], "is invalid: the document: expected an object, got [1, 2]"),
        (lambda d: {**d, "layers": []}, "layers: expected a non-empty list"),
        (
            lambda d: {**d, "layers": [{**d["layers"][0], "output": "big"}]},
            "layers[0].output: expected a shape (a list of whole numbers and nulls) or null, got 'big'",
        ),
        (
            lambda d: {**d, "layers": [{**d["layers"][0], "path": 3}]},
            "layers[0].path: expected a non-empty string, got 3",
        ),
        (
            lambda d: {**d, "layers": [d["layers"][0], {**d["layers"][1], "inputs": [[1, "x"]]}]},
            "layers[1].inputs: expected a list of shapes, got [[1, 'x']]",
        ),
        (
            lambda d: {**d, "request": {**d["request"], "size": [32]}},
            "request.size: expected [height, width] or null, got [32]",
        ),
        (lambda d: {**d, "request": "resnet50"}, "request: expected an object, got 'resnet50'"),
        (
            lambda d: {k: v for k, v in d.items() if k != "request"},
            "request: expected an object, got nothing",
        ),
        (lambda d: {**d, "verdict": "fine"}, 'verdict: expected "ok" or "broken", got \'fine\''),
        (lambda d: {**d, "probes": []}, "probes: expected a non-empty list of probes, got []"),
        (lambda d: {**d, "broken": {"index": 2}}, "broken.layer: expected a string, got nothing"),
    ],
)
def test_invalid_baselines_are_one_line(good_baseline, edit, expected):
    data = edit(json.loads(good_baseline.read_text()))
    good_baseline.write_text(data if isinstance(data, str) else json.dumps(data))
    with pytest.raises(UsageError) as info:
        check_baseline(good_baseline)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)
    assert not obtained_path(good_baseline).exists()


# --------------------------------------------------------------------------- assert_shapes


def test_assert_shapes_fails_with_the_readable_diff(factory, tmp_path, monkeypatch):
    path = tmp_path / "net.json"
    monkeypatch.delenv("SHAPETRACE_UPDATE", raising=False)
    assert_shapes(factory, path, update=True)
    _rewrite_factory(factory, width=12)
    with pytest.raises(ShapesDiffer) as info:
        assert_shapes(factory, path)
    message = str(info.value)
    assert "3 of 4 layers differ" in message
    assert "(1, 14, 14, 8)" in message and "(1, 14, 14, 12)" in message
    assert "SHAPETRACE_UPDATE=1 python -m pytest" in message
    assert isinstance(info.value, AssertionError)
    monkeypatch.setenv("SHAPETRACE_UPDATE", "1")
    assert assert_shapes(factory, path).status == "updated"
    monkeypatch.delenv("SHAPETRACE_UPDATE")
    assert assert_shapes(factory, path).status == "match"


def test_assert_shapes_with_a_callable_records_a_rerunnable_spec(tmp_path):
    import importlib.util

    source = tmp_path / "builder.py"
    source.write_text(FACTORY)
    spec = importlib.util.spec_from_file_location("builder_for_test", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path = tmp_path / "shapes.json"
    assert_shapes(module.build, path, update=True)
    assert load_baseline(path).request["model"] == "builder.py:build"
    assert check_baseline(path).status == "match"


@pytest.mark.slow  # a whole pytest run in a fresh process (~13 s); see conftest's list of slow tests
def test_pytest_plugin_option(tmp_path):
    """`pytest --shapetrace-update` (registered by the package's pytest11 entry point)."""
    import os
    import subprocess
    import sys

    (tmp_path / "net.py").write_text(FACTORY)
    (tmp_path / "test_net.py").write_text(
        "from shapetrace.testing import assert_shapes\n\n"
        "def test_net():\n"
        "    assert_shapes('net.py:build', 'net.json')\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "SHAPETRACE_UPDATE")}

    def pytest(*args):
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "--rootdir",
                str(tmp_path),
                *args,
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    created = pytest("--shapetrace-update")
    assert created.returncode == 0, created.stdout + created.stderr
    assert load_baseline(tmp_path / "net.json").request["model"] == "net.py:build"
    _rewrite_factory(f"{tmp_path / 'net.py'}:build", width=12)
    failed = pytest()
    assert failed.returncode == 1
    assert "3 of 4 layers differ" in failed.stdout
    assert "SHAPETRACE_UPDATE=1 python -m pytest test_net.py::test_net" in failed.stdout


@pytest.mark.slow  # a pytest-xdist session of two workers, three times (~2.5 min on a loaded machine)
def test_assert_shapes_under_pytest_xdist(tmp_path):
    """`pytest -n 2`: the plugin loads in each worker, --shapetrace-update reaches them, and
    the baselines the workers write at once are each whole."""
    import os
    import subprocess
    import sys

    pytest.importorskip("xdist")
    (tmp_path / "net.py").write_text(FACTORY)
    (tmp_path / "test_nets.py").write_text(
        "import pytest\n"
        "from shapetrace.testing import assert_shapes\n\n"
        "@pytest.mark.parametrize('width', [4, 5, 6, 7])\n"
        "def test_net(width):\n"
        "    assert_shapes('net.py:build', f'net{width}.json', factory_args={'width': width})\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "SHAPETRACE_UPDATE")}

    def pytest_n2(*args):
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-n",
                "2",
                "-p",
                "no:cacheprovider",
                "--rootdir",
                str(tmp_path),
                *args,
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    created = pytest_n2("--shapetrace-update")
    assert created.returncode == 0, created.stdout + created.stderr
    assert "4 passed" in created.stdout
    assert [load_baseline(tmp_path / f"net{w}.json").layers[1].output[-1] for w in (4, 5, 6, 7)] == [
        4,
        5,
        6,
        7,
    ]
    assert pytest_n2().returncode == 0
    (tmp_path / "net.py").write_text(
        (tmp_path / "net.py").read_text().replace('name="stem")', 'name="stem", padding="same")')
    )
    failed = pytest_n2()
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "4 failed" in failed.stdout and "shapes differ from the baseline" in failed.stdout
    assert sorted(p.name for p in tmp_path.glob("*.obtained.json")) == [
        f"net{w}.obtained.json" for w in (4, 5, 6, 7)
    ]


# --------------------------------------------------------------------------- this project's own baselines

# Small applications at small sizes: a Keras upgrade that changes their shapes fails here.
# Regenerate after reviewing: SHAPETRACE_UPDATE=1 python -m pytest tests/test_baseline.py -k project
PROJECT_BASELINES = [
    ("mobilenetv3small", {"size": "32x32"}),
    ("resnet50", {"size": "32x32", "channels": 1}),
    ("efficientnetb0", {"size": "32x32", "channels": 1}),
]


@pytest.mark.parametrize("name, options", PROJECT_BASELINES, ids=[n for n, _ in PROJECT_BASELINES])
def test_project_application_baselines(name, options):
    channels = options.get("channels", 3)
    assert_shapes(name, SHAPES / f"{name}-{options['size']}-c{channels}.json", **options)
