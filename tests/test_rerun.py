"""Running a baseline's trace again: its request's options, paths from the baseline's own folder."""

from __future__ import annotations

import json
import shutil
import textwrap

import pytest

from shapetrace.baselines.baseline import load_baseline, snapshot
from shapetrace.baselines.check import check_baseline
from shapetrace.baselines.rerun import rerun
from shapetrace.errors import UsageError
from shapetrace.testing import assert_shapes

pytestmark = pytest.mark.usefixtures("writes_baselines")

FACTORY = textwrap.dedent(
    """
    import keras

    def build(units=3):
        inputs = keras.Input((4,), name="features")
        return keras.Model(inputs, keras.layers.Dense(units, name="head")(inputs), name="net")
    """
)


@pytest.fixture
def moved_baseline(tmp_path, monkeypatch):
    """A project's baseline written with options, then the project copied elsewhere and run from a third folder."""
    project = tmp_path / "project"
    (project / "shapes").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    (project / "net.py").write_text(FACTORY)
    snapshot(f"{project / 'net.py'}:build", project / "shapes" / "net.json", batch=2)
    moved = shutil.copytree(project, tmp_path / "moved")
    (project / "net.py").unlink()  # only the copy's code can run
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return moved / "shapes" / "net.json"


def test_rerun_resolves_paths_from_the_baselines_folder_and_keeps_its_options(moved_baseline):
    baseline = load_baseline(moved_baseline)
    assert baseline.request["model"] == "../net.py:build" and baseline.request["batch"] == 2
    again = rerun(baseline, moved_baseline)
    assert [p.shape for p in again.probes] == [(2, 4)]
    assert [(r.path, r.output) for r in again.layers] == [(r.path, r.output) for r in baseline.layers]
    # Named as the user would type it from here, the folder the run started in.
    assert again.request["model"] == "../moved/net.py:build"


def test_rerun_runs_the_code_as_it_is_now(moved_baseline):
    factory = moved_baseline.parent.parent / "net.py"
    factory.write_text(FACTORY.replace("units=3", "units=5"))
    again = rerun(load_baseline(moved_baseline), moved_baseline)
    assert again.layers[-1].output == (2, 5)


def test_a_failing_rerun_names_the_baseline(moved_baseline):
    data = json.loads(moved_baseline.read_text())
    data["request"]["weights"] = "missing.weights.h5"
    moved_baseline.write_text(json.dumps(data))
    with pytest.raises(UsageError) as info:
        rerun(load_baseline(moved_baseline), moved_baseline)
    assert str(info.value).startswith(f"{moved_baseline}: ")


def test_baseline_from_a_model_object_cannot_be_rerun(tmp_path):
    from shapetrace.tracing._keras_graph import keras

    inputs = keras.Input((4,))
    path = tmp_path / "object.json"
    assert_shapes(keras.Model(inputs, keras.layers.Dense(2)(inputs)), path, update=True)
    with pytest.raises(UsageError, match="written from a model object"):
        check_baseline(path)
