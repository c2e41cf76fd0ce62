"""`shapetrace check --jobs N` and `--shard K/N`, and re-runs that never come back with a trace."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from shapetrace.baselines import jobs as check_jobs
from shapetrace.baselines.jobs import WORKER_MEMORY, parse_shard, resolve_jobs, select_shard, shard_of
from shapetrace.errors import UsageError

FACTORIES = textwrap.dedent(
    """
    import os
    import signal

    import keras

    def build(width=8):
        inputs = keras.Input((16, 16, 1), name="image")
        x = keras.layers.Conv2D(width, 3, name="stem")(inputs)
        return keras.Model(inputs, keras.layers.GlobalAveragePooling2D(name="pool")(x), name="net")

    def exits():
        os._exit(0)

    def crashes():
        os.kill(os.getpid(), signal.SIGKILL)
    """
)


@pytest.fixture
def project(tmp_path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'zoo'\n")
    (tmp_path / "factories.py").write_text(FACTORIES)
    (tmp_path / "shapes").mkdir()
    return tmp_path


def _snapshot(cli, project: Path, name: str, width: int) -> Path:
    path = project / "shapes" / f"{name}.json"
    code, _, err = cli(
        "snapshot", f"{project / 'factories.py'}:build", "--factory-arg", f"width={width}", "-o", path
    )
    assert code == 0, err
    return path


def _with_request(path: Path, **changes) -> None:
    data = json.loads(path.read_text())
    data["request"].update(changes)
    path.write_text(json.dumps(data))


def _statuses(out: str) -> dict[str, str]:
    return {Path(r["baseline"]).name: r["status"] for r in json.loads(out)}


def test_jobs_and_shards_give_the_serial_run(project, cli):
    """The issue's acceptance: --jobs 2 and the union of both shards equal the serial run
    (statuses, exit codes, the JSON and the .obtained.json file)."""
    paths = [_snapshot(cli, project, name, width) for name, width in (("a", 8), ("b", 4), ("stale", 6))]
    _with_request(paths[2], factory_args={"width": 5})  # the model changed since: one stale baseline
    serial_code, serial_out, _ = cli("check", *paths, "--format", "json")
    serial = _statuses(serial_out)
    assert serial_code == 1 and serial == {"a.json": "match", "b.json": "match", "stale.json": "differs"}
    obtained = (project / "shapes" / "stale.obtained.json").read_text()

    code, out, err = cli("check", *paths, "--format", "json", "--jobs", "2")
    assert (code, _statuses(out)) == (serial_code, serial), err
    assert [Path(r["baseline"]).name for r in json.loads(out)] == ["a.json", "b.json", "stale.json"]
    assert json.loads(out) == json.loads(serial_out)  # diffs, obtained paths and accept commands too
    assert (project / "shapes" / "stale.obtained.json").read_text() == obtained

    union: dict[str, str] = {}
    codes = []
    for shard in ("1/2", "2/2"):
        # The arguments in another order: the split does not depend on it.
        code, out, _ = cli("check", *reversed(paths), "--format", "json", "--shard", shard)
        part = _statuses(out)
        assert not part.keys() & union.keys()  # each baseline in exactly one shard
        union.update(part)
        codes.append(code)
    assert union == serial and max(codes) == serial_code


@pytest.mark.slow  # six more child processes; the default run checks the same statuses above
def test_jobs_table_order_and_update(project, cli):
    paths = [_snapshot(cli, project, name, width) for name, width in (("a", 8), ("b", 4), ("stale", 6))]
    _with_request(paths[2], factory_args={"width": 5})
    assert cli("check", paths[2])[0] == 1  # leaves stale.obtained.json, as a failing CI run does

    # The table says the same, in the order given; a glob's stale.obtained.json is not a baseline.
    code, out, err = cli("check", *paths, project / "shapes" / "stale.obtained.json", "--jobs", "2")
    assert code == 1 and "Skipped 1 .obtained.json file" in err
    assert out.index("a.json") < out.index("b.json") < out.index("stale.json")
    assert "✗" in out and out.count("✓") == 2

    # --update with workers: the stale baseline rewritten, as the serial run would.
    code, out, err = cli("check", *paths, "--jobs", "2", "--update", "--format", "json")
    assert code == 0 and _statuses(out)["stale.json"] == "updated", err
    assert not (project / "shapes" / "stale.obtained.json").exists()
    assert json.loads(paths[2].read_text())["request"]["factory_args"] == {"width": 5}


def test_a_rerun_that_ends_the_process_fails_and_the_others_are_still_checked(project, cli):
    good = _snapshot(cli, project, "good", 8)
    exits = _snapshot(cli, project, "exits", 8)
    crashes = _snapshot(cli, project, "crashes", 8)
    _with_request(exits, model="../factories.py:exits", factory_args={})
    _with_request(crashes, model="../factories.py:crashes", factory_args={})
    code, out, err = cli("check", exits, good, crashes, "--format", "json")
    assert code == 1, err
    first, second, third = json.loads(out)  # --format json always prints its document
    assert first["status"] == "error" and "exited with code 0" in first["error"]
    assert "the re-run ended without a trace" in first["error"]
    assert second["status"] == "match"
    assert third["status"] == "error" and "killed by signal SIGKILL" in third["error"]
    assert err.count("error: ") == 2
    assert not (project / "shapes" / "exits.obtained.json").exists()


@pytest.fixture
def model_files(tmp_path, cli) -> list[Path]:
    """Two baselines of .keras files: re-run in this process (they run no user code)."""
    from shapetrace.tracing._keras_graph import keras

    paths = []
    for name in ("one", "two"):
        inputs = keras.Input((4,))
        model_path = tmp_path / f"{name}.keras"
        keras.Model(inputs, keras.layers.Dense(2)(inputs)).save(model_path)
        path = tmp_path / f"{name}.json"
        code, _, err = cli("snapshot", model_path, "-o", path)
        assert code == 0, err
        paths.append(path)
    return paths


def test_an_internal_error_is_that_baselines_row(model_files, cli, monkeypatch):
    import shapetrace.baselines.check

    real = shapetrace.baselines.check.diff_traces

    def diff(baseline, now):
        if now.request["model"].endswith("one.keras"):
            raise RuntimeError("a bug in shapetrace")
        return real(baseline, now)

    monkeypatch.setattr(shapetrace.baselines.check, "diff_traces", diff)
    code, out, err = cli("check", *model_files, "--format", "json")
    assert code == 3
    first, second = json.loads(out)
    assert (
        first["status"] == "error" and "internal error (RuntimeError: a bug in shapetrace)" in first["error"]
    )
    assert second["status"] == "match"
    assert "Traceback" not in err and err.count("\n") == 1


def test_shards_are_stable_and_cover_every_baseline(tmp_path, monkeypatch):
    (tmp_path / ".git").mkdir()
    (tmp_path / "shapes").mkdir()
    paths = [tmp_path / "shapes" / f"model{i}.json" for i in range(40)]
    shards = [select_shard(paths, (k, 3)) for k in (1, 2, 3)]
    assert sorted(p for shard in shards for p in shard) == sorted(paths)
    assert all(shards)  # 40 names spread over 3 shards
    # Relative from the project root, or from another checkout of the project: the same split.
    monkeypatch.chdir(tmp_path)
    assert [shard_of(Path("shapes") / p.name, 3) for p in paths] == [shard_of(p, 3) for p in paths]
    other = tmp_path / "elsewhere"
    (other / ".git").mkdir(parents=True)
    (other / "shapes").mkdir()
    assert [shard_of(other / "shapes" / p.name, 3) for p in paths] == [shard_of(p, 3) for p in paths]


@pytest.mark.parametrize("text", ["0/2", "3/2", "2", "a/b", "1/0", ""])
def test_bad_shards_are_refused(text):
    with pytest.raises(UsageError, match="expected K/N"):
        parse_shard(text)


def test_jobs_that_cannot_fit_in_memory_are_refused_with_the_figure(monkeypatch):
    monkeypatch.setattr(check_jobs, "available_memory", lambda: int(2.5 * WORKER_MEMORY))
    monkeypatch.setattr(check_jobs, "cores", lambda: 8)
    with pytest.raises(UsageError, match=r"jobs=4 needs about 4.0 GiB \(1.0 GiB per worker\) but 2.5 GiB"):
        resolve_jobs("4", 10)
    assert resolve_jobs("2", 10) == 2
    assert resolve_jobs("auto", 10) == 2  # the cores, no more than fit
    assert resolve_jobs("auto", 1) == 1
    assert resolve_jobs("8", 2) == 2  # never more workers than baselines


def test_bad_jobs_are_one_line_exit_2(tmp_path, cli):
    code, out, err = cli("check", tmp_path / "x.json", "--jobs", "0")
    assert code == 2 and out == "" and "--jobs" in err and err.count("\n") == 1, err
    code, out, err = cli("check", tmp_path / "x.json", "--shard", "3/2")
    assert code == 2 and "--shard 3/2" in err, err
