"""A lean core without side effects: the extras are refused in one line when missing, the core
commands never import them, and a library trace changes nothing global."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

EXTRA_MODULES = ("sklearn", "PIL", "matplotlib")


def hide(monkeypatch, module: str) -> None:
    """Make ``import module`` (and its submodules) fail as if it were not installed."""
    for name in [n for n in sys.modules if n == module or n.startswith(module + ".")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, module, None)


@pytest.mark.parametrize(
    ("module", "package"), [("sklearn", "scikit-learn"), ("PIL", "Pillow"), ("matplotlib", "matplotlib")]
)
def test_train_without_its_extra_says_how_to_install_it(module, package, monkeypatch, cli, tmp_path):
    hide(monkeypatch, module)
    code, out, err = cli("train", "--output", tmp_path / "run", "--epochs", "1")
    assert code == 2
    assert err.strip() == f"error: shapetrace train needs {package}: pip install 'shapetrace[train]'"
    assert not (tmp_path / "run").exists()  # refused before anything was made


@pytest.mark.parametrize("command", [["resnet50"], ["survey", "--models", "resnet50"]])
def test_plot_without_matplotlib_says_how_to_install_it(command, monkeypatch, cli, tmp_path):
    hide(monkeypatch, "matplotlib")
    code, _, err = cli(*command, "--plot", tmp_path / "shapes.png")
    assert code == 2
    assert err.strip() == "error: --plot needs matplotlib: pip install 'shapetrace[plot]'"
    assert "tensorflow" not in err and not (tmp_path / "shapes.png").exists()


def test_the_library_refuses_a_plot_without_matplotlib(monkeypatch, tmp_path):
    from shapetrace.errors import UsageError
    from shapetrace.render.plot import plot_survey

    hide(monkeypatch, "matplotlib")
    with pytest.raises(UsageError, match=r"pip install 'shapetrace\[plot\]'"):
        plot_survey([], tmp_path / "survey.png")
    assert not (tmp_path / "survey.png").exists()


def test_the_library_refuses_training_without_its_extra(monkeypatch, tmp_path):
    from shapetrace.errors import UsageError
    from shapetrace.train.config import TrainConfig
    from shapetrace.train.run import train

    hide(monkeypatch, "PIL")
    with pytest.raises(UsageError, match=r"^training needs Pillow: pip install 'shapetrace\[train\]'$"):
        train(TrainConfig(output=str(tmp_path / "run")))
    assert not (tmp_path / "run").exists()


def _python(code: str, *args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_core_commands_run_without_the_extras(tmp_path):
    """trace, list, survey, snapshot and check with scikit-learn, Pillow and matplotlib not installed."""
    _python(
        """
        import sys
        extras = sys.argv[2].split(",")
        for name in extras:
            sys.modules[name] = None  # "not installed": any import of it fails
        from shapetrace.cli.app import main

        def run(*args):
            try:
                main(list(args))
            except SystemExit as exit:
                assert exit.code == 0, (args, exit.code)

        folder = sys.argv[1]
        run("list")
        run("mobilenetv3small", "--size", "32", "--format", "json")
        run("survey", "--models", "^mobilenetv3small$", "--size", "32x32", "--format", "csv")
        run("snapshot", "mobilenetv3small", "--size", "32", "-o", folder + "/small.json")
        run("check", folder + "/small.json")
        assert all(sys.modules[name] is None for name in extras), "an extra was imported for real"
        """,
        str(tmp_path),
        ",".join(EXTRA_MODULES),
    )


def test_a_library_trace_and_plot_change_nothing_global(tmp_path):
    """No environment variable, plotting backend, logger level or umask changes by import or call.

    TensorFlow sets a few environment variables of its own when imported: a control run
    that only imports it says which, and those are not shapetrace's doing.
    """
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    control = _python(
        "import json, os; before = set(os.environ); import keras, tensorflow; "
        "print(json.dumps(sorted(set(os.environ) - before)))",
        env=env,
    )
    _python(
        """
        import json, logging, os, sys
        import matplotlib

        matplotlib.use("svg")  # the user's own choice, which a plot must keep

        def umask():
            with open("/proc/self/status") as status:  # read without setting it
                return next(line.split()[1] for line in status if line.startswith("Umask:"))

        def state():
            environment = {k: v for k, v in os.environ.items() if k not in json.loads(sys.argv[2])}
            loggers = {name: logging.getLogger(name).level for name in ("tensorflow", "keras", "absl", "")}
            return environment, matplotlib.get_backend(), loggers, umask()

        before = state()
        import shapetrace
        from shapetrace.render.plot import plot_trace

        assert state() == before, "importing shapetrace changed something"

        def build():
            import keras

            x = keras.Input((8, 8, 3))
            return keras.Model(x, keras.layers.Conv2D(4, 3)(x))

        # The user's own Keras settings (keras.backend.clear_session() would reset them all).
        import keras

        keras.config.set_dtype_policy("mixed_float16")
        keras.config.disable_traceback_filtering()
        keras.config.disable_interactive_logging()

        def settings():
            return (
                keras.config.dtype_policy().name,
                keras.config.is_traceback_filtering_enabled(),
                keras.config.is_interactive_logging_enabled(),
            )

        chosen = settings()
        trace = shapetrace.trace(build)
        assert trace.ok
        shapetrace.trace("mobilenetv3small", channels=1, size=(32, 32))  # an application resets naming
        assert settings() == chosen, (settings(), chosen)
        plot_trace(trace, os.path.join(sys.argv[1], "trace.png"))
        after = state()
        for what, old, new in zip(("environment", "backend", "loggers", "umask"), before, after):
            assert old == new, (what, old, new)
        # Keras imports pyplot itself when matplotlib is installed; pyplot's figures stay untouched.
        pyplot = sys.modules.get("matplotlib.pyplot")
        assert pyplot is None or pyplot.get_fignums() == []
        """,
        str(tmp_path),
        control.strip().splitlines()[-1],
        env=env,
    )
