"""``train(config)``: check everything, build, trace, train with checkpoints, write the outputs.

Order matters for "nothing already written is lost": the config, the data folder, the output
folder and the model (incl. the ``--adapt broadcast`` trace) are all checked before the first
byte is written or an old run is cleared.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from shapetrace.errors import TrainingDiverged, UsageError
from shapetrace.extras import require_train
from shapetrace.tracing._keras_graph import (
    depthwise_conv_by_slices,
    keras,
    tensorflow_left_unloaded,
    versions,
)
from shapetrace.train.config import Distribute, TrainConfig
from shapetrace.train.devices import make_strategy, require_training_backend
from shapetrace.train.multiworker import MULTI_WORKER_FIT_WORKS, fit_multi_worker
from shapetrace.train.outputs import FILES, SCHEMA, RunFolder, atomic_copy, atomic_save_model

if TYPE_CHECKING:
    import tensorflow as tf

    from shapetrace.models.catalog import Application
    from shapetrace.train.channels import Assembly
    from shapetrace.train.data import Datasets
    from shapetrace.train.recipe import Phase

__all__ = [
    "train",
    "TrainResult",
    "Plan",
    "Reporter",
    "TrainingDiverged",
    "make_strategy",
    "require_training_backend",
]


@dataclass(frozen=True)
class Plan:
    """What is about to happen, shown before the first epoch."""

    config: TrainConfig
    application: str
    adapt: str
    adapt_note: str
    verdict: str
    trace: Any
    data: Any
    """A :class:`~shapetrace.train.data.DataInfo`."""
    replicas: int
    resumed_from: int
    """Completed epochs found in the folder (0 for a fresh run)."""
    total_epochs: int
    steps_per_epoch: int
    backend: str = "tensorflow"
    """The Keras backend this invocation trains on."""
    started_on: str | None = None
    """The backend the run's first epochs were trained on, when it resumes on another one."""


@dataclass(frozen=True)
class TrainResult:
    output: str
    epochs: int
    resumed_from: int
    best_epoch: int
    best_val_accuracy: float
    best_val_loss: float
    final: dict
    """The last history row (train/val loss and accuracy)."""
    seconds: float
    """Wall time of this invocation."""
    files: dict[str, str]
    history: tuple[dict, ...] = field(default=())
    backend: str = "tensorflow"
    """The Keras backend this invocation trained on."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "output": self.output,
            "backend": self.backend,
            "epochs": self.epochs,
            "resumed_from": self.resumed_from,
            "best_epoch": self.best_epoch,
            "best_val_accuracy": self.best_val_accuracy,
            "best_val_loss": self.best_val_loss,
            "final": dict(self.final),
            "seconds": self.seconds,
            "files": dict(self.files),
        }


class Reporter(Protocol):
    """Progress hooks for a front end (the CLI draws a progress bar): any object with these
    methods, or a subclass, which inherits them as no-ops and overrides what it needs."""

    # `return None`, not `...`: a protocol method with an empty body would be abstract.
    def plan(self, plan: Plan) -> None:
        return None

    def phase_begin(self, phase: Phase, epoch: int, steps: int) -> None:
        return None

    def epoch_begin(self, epoch: int, steps: int) -> None:
        return None

    def batch_end(self, epoch: int, step: int, logs: dict) -> None:
        return None

    def epoch_end(self, epoch: int, row: dict) -> None:
        return None

    def finishing(self) -> None:
        return None


class _Quiet(Reporter):
    """No progress shown: the library's default."""


def _is_chief() -> bool:
    spec = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = spec.get("task") or {}
    if not task:
        return True
    if task.get("type") == "chief":
        return True
    return (
        task.get("type") == "worker"
        and int(task.get("index", 0)) == 0
        and "chief" not in spec.get("cluster", {})
    )


def train(
    config: TrainConfig,
    reporter: Reporter | None = None,
    callbacks: Sequence[Any] = (),
) -> TrainResult:
    """Train as ``config`` says; resume an interrupted run in the same folder.

    Args:
        config: the run's options (validated here).
        reporter: progress hooks (the CLI's progress bar).
        callbacks: extra Keras callbacks, run after the checkpointing one.

    Returns:
        A :class:`TrainResult`.

    Raises:
        UsageError: bad options, data, weights or output folder (nothing written or cleared).
        TrainingDiverged: the loss became NaN (the last good checkpoint is kept).
    """
    # The run folder's lock is held until training ends, however it ends; on JAX or PyTorch
    # TensorFlow is never loaded (nothing needs it); on JAX depthwise convolutions train by slices
    # (XLA:CPU's grouped-convolution gradient is ~30x slower; the numbers are the same).
    with contextlib.ExitStack() as held, tensorflow_left_unloaded(), depthwise_conv_by_slices():
        return _train(config, reporter, callbacks, held)


def _train(
    config: TrainConfig,
    reporter: Reporter | None,
    callbacks: Sequence[Any],
    held: contextlib.ExitStack,
) -> TrainResult:
    """The body of :func:`train`; ``held`` keeps the run folder's lock until it ends."""
    backend = require_training_backend()
    require_train()  # scikit-learn, Pillow, matplotlib: the [train] extra
    started = time.perf_counter()
    reporter = reporter or _Quiet()
    run = _prepare(config.resolved(), backend, held)
    plan = _plan(run)
    reporter.plan(plan)
    history_callback = _HistoryCallback(
        run.folder, run.resume.history, run.resume.state or {}, reporter, run.steps, backend
    )
    try:
        _train_phases(run, history_callback, reporter, callbacks)
        reporter.finishing()
        best = _write_outputs(run, history_callback)
    except OSError as error:  # a full disk, a quota, a vanished mount: the run stays resumable
        raise _write_failed(error, run.folder, history_callback.state, run.phases[-1].last_epoch) from None
    rows = history_callback.history
    return TrainResult(
        output=str(run.folder.root),
        epochs=len(rows),
        resumed_from=plan.resumed_from,
        best_epoch=int(best["epoch"]),
        best_val_accuracy=float(best["val_accuracy"]),
        best_val_loss=float(best["val_loss"]),
        final=dict(rows[-1]),
        seconds=time.perf_counter() - started,
        files={key: str(run.folder.path(key)) for key in FILES},
        history=tuple(rows),
        backend=backend,
    )


@dataclass(frozen=True)
class _Resume:
    """What the run folder already holds for this run (nothing, for a fresh one)."""

    completed: int
    """Completed epochs (0 = start afresh)."""
    history: list[dict]
    state: dict | None
    started_on: str | None
    """The backend the run was started on (``None`` for a fresh run)."""


@dataclass(frozen=True)
class _Prepared:
    """Everything checked and built before the first epoch, the run folder taken."""

    config: TrainConfig
    backend: str
    app: Application
    strategy: Any
    folder: RunFolder
    resume: _Resume
    datasets: Datasets
    steps: int
    phases: tuple[Phase, ...]
    assembly: Assembly
    model: Any
    """The model to train: the assembly's (cloned into the strategy's scope) or the last checkpoint."""
    fed: Any
    """The :class:`~shapetrace.records.Trace` of the model before training."""


def _prepare(config: TrainConfig, backend: str, held: contextlib.ExitStack) -> _Prepared:
    """Check the folder, load the data, build and trace the model; only then take the folder
    (cleared for a fresh run, the last checkpoint loaded to resume)."""
    from shapetrace.models.catalog import resolve_application

    app = resolve_application(config.model)
    strategy = make_strategy(config.distribute)  # before any other TensorFlow (or JAX) work
    assert isinstance(config.size, tuple)  # resolved
    folder, resume = _resume_point(config, strategy)

    from shapetrace.api import trace_model
    from shapetrace.train import recipe
    from shapetrace.train.channels import assemble
    from shapetrace.train.data import load_datasets

    keras.utils.set_random_seed(config.seed)
    datasets = load_datasets(config)
    # Built outside the strategy's scope: building an application resets Keras's session, which
    # would pop the scope's strategy stack. The strategy gets its own copy of the variables.
    assembly = assemble(config, app, len(datasets.info.class_names))
    model = assembly.model
    if config.distribute is not Distribute.none:
        with strategy.scope():
            model = _clone_in_scope(model)
    fed = trace_model(model, channels=config.channels, size=config.size)
    resumed = _take_folder(held, folder, resume, strategy, backend)
    if resumed is not None:
        model = resumed
    return _Prepared(
        config=config,
        backend=backend,
        app=app,
        strategy=strategy,
        folder=folder,
        resume=resume,
        datasets=datasets,
        steps=recipe.steps_per_epoch(datasets.info.train, config.batch_size),
        phases=recipe.phases(config),
        assembly=assembly,
        model=model,
        fed=fed,
    )


def _resume_point(config: TrainConfig, strategy: Any) -> tuple[RunFolder, _Resume]:
    """The folder this process writes, and what it holds for this run (checked; nothing written)."""
    assert config.output is not None  # resolved
    folder = RunFolder(Path(config.output))
    multi_worker = config.distribute is Distribute.multi_worker
    if multi_worker and not _is_chief():  # other workers train in step but keep their files to themselves
        folder = _worker_folder(folder)
    if multi_worker:
        completed, history, state = _agreed_folder(strategy, folder, config)
    else:
        completed, history, state = _validate_folder(folder, config)
    started_on = _started_on(folder) if completed else None
    return folder, _Resume(completed, history, state, started_on)


def _take_folder(
    held: contextlib.ExitStack, folder: RunFolder, resume: _Resume, strategy: Any, backend: str
) -> Any:
    """Lock the folder for the rest of the run and make it ready; the last checkpoint's model
    when the run resumes, else ``None``."""
    model = None
    held.enter_context(folder.locked())  # before the first change to the folder
    if resume.completed == 0 and folder.root.exists():
        folder.clear()  # only now: every check passed (an --overwrite or a stale unfinished run)
    elif resume.completed:
        folder.remove_temporaries()  # left by a process killed mid-write; only this run owns them
        assert resume.state is not None  # a folder with completed epochs has its state
        checkpoint = folder.root / resume.state["checkpoint"]
        model = _load_checkpoint(strategy, checkpoint, resume.started_on, backend)
    try:
        folder.checkpoints.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(
            f"Cannot create output={str(folder.root)!r} ({error.strerror or error}).", param="output"
        ) from None
    return model


def _plan(run: _Prepared) -> Plan:
    """What is about to happen; a fresh run's ``config.json`` written."""
    from shapetrace.tracing.explain import verdict_text

    config, assembly, resume = run.config, run.assembly, run.resume
    replicas = int(run.strategy.num_replicas_in_sync)
    verdict = verdict_text(run.fed)
    if resume.completed == 0:
        run.folder.write_json(
            "config",
            {
                "schema": SCHEMA,
                "backend": run.backend,
                "versions": versions(),
                "config": config.to_dict(),
                "application": run.app.name,
                "base": assembly.base.name,
                "adapt": assembly.adapt,
                "adapt_note": assembly.note,
                "sum_stem": None if assembly.fold is None else assembly.fold.to_dict(),
                "data": run.datasets.info.to_dict(),
                "replicas": replicas,
                "steps_per_epoch": run.steps,
                "phases": [
                    {"name": p.name, "epochs": [p.first_epoch + 1, p.last_epoch], "lr": p.lr}
                    for p in run.phases
                ],
                "verdict_before_training": verdict,
            },
        )
    return Plan(
        config=config,
        application=run.app.name,
        adapt=assembly.adapt,
        adapt_note=assembly.note,
        verdict=verdict,
        trace=run.fed,
        data=run.datasets.info,
        replicas=replicas,
        resumed_from=resume.completed,
        total_epochs=run.phases[-1].last_epoch,
        steps_per_epoch=run.steps,
        backend=run.backend,
        started_on=resume.started_on if resume.started_on != run.backend else None,
    )


def _train_phases(
    run: _Prepared, history_callback: _HistoryCallback, reporter: Reporter, callbacks: Sequence[Any]
) -> None:
    """Train every phase the folder has not completed, each compiled (and the base unfrozen for
    fine-tuning) unless the run resumes in the middle of it."""
    from shapetrace.train import recipe

    completed, state, model, strategy = run.resume.completed, run.resume.state, run.model, run.strategy
    for phase in run.phases:
        if completed >= phase.last_epoch:
            continue
        with strategy.scope():
            if completed == phase.first_epoch or state is None or state.get("phase") != phase.name:
                if phase.name == "fine-tune":
                    recipe.unfreeze(model, run.assembly.base.name)
                recipe.compile_for(model, phase, run.steps)
        history_callback.phase = phase.name
        reporter.phase_begin(phase, completed, run.steps)
        _fit(run, initial_epoch=completed, epochs=phase.last_epoch, callbacks=[history_callback, *callbacks])
        if history_callback.diverged is not None:
            raise _diverged(history_callback, run.folder, phase)
        completed = phase.last_epoch
        state = history_callback.state


def _fit(run: _Prepared, *, initial_epoch: int, epochs: int, callbacks: list[Any]) -> None:
    if run.config.distribute is Distribute.multi_worker and not MULTI_WORKER_FIT_WORKS:
        fit_multi_worker(
            run.model,
            run.strategy,
            run.datasets,
            initial_epoch=initial_epoch,
            epochs=epochs,
            callbacks=callbacks,
        )
        return
    with run.strategy.scope():  # JAX's data parallelism applies inside its scope
        run.model.fit(
            run.datasets.train,
            validation_data=run.datasets.val,
            initial_epoch=initial_epoch,
            epochs=epochs,
            verbose=0,
            shuffle=False,  # the pipeline shuffles (seeded, every epoch)
            callbacks=callbacks,
        )


def _diverged(history_callback: _HistoryCallback, folder: RunFolder, phase: Phase) -> TrainingDiverged:
    assert history_callback.diverged is not None
    epoch, step = history_callback.diverged
    kept = history_callback.state.get("checkpoint")
    where = f"kept the last good checkpoint {str(folder.root / kept)!r}" if kept else "no epoch had completed"
    return TrainingDiverged(
        f"The loss became NaN/inf in epoch {epoch + 1} (batch {step + 1}); training stopped and "
        f"{where}: lower `lr` (was {phase.lr:g}).",
        param="lr",
    )


def _write_outputs(run: _Prepared, history_callback: _HistoryCallback) -> dict:
    """The final model, its trace, the metrics and the curves, then the state marked finished.

    Returns:
        The best epoch's history row (the epoch ``best.keras`` holds).
    """
    from shapetrace.api import trace_model
    from shapetrace.tracing.report import trace_document

    folder, config, datasets, model = run.folder, run.config, run.datasets, run.model
    assert isinstance(config.size, tuple)  # resolved
    rows = history_callback.history
    best = rows[int(history_callback.state["best"]["epoch"]) - 1]
    atomic_save_model(model, folder.path("model"))
    if config.distribute is Distribute.multi_worker:
        # predict/trace need no collective: each worker evaluates a local copy of what it saved
        model = keras.models.load_model(folder.path("model"))
    folder.write_json("trace", trace_document(trace_model(model, channels=config.channels, size=config.size)))
    final = _evaluate(model, datasets, rows[-1])
    # The best epoch's weights into the same model: its compiled predict step serves again
    # (on JAX a second model would compile anew).
    model.load_weights(folder.path("best"))
    metrics = {
        "schema": SCHEMA,
        "classes": list(datasets.info.class_names),
        "final": final,
        "best": {"epoch": best["epoch"], **_evaluate(model, datasets, best)},
    }
    folder.write_json("metrics", metrics)
    folder.write("curves", _curves_png(rows, run.phases))
    folder.write_json("state", {**history_callback.state, "finished": True})
    return best


def _started_on(folder: RunFolder) -> str | None:
    """The backend an interrupted run was started on (runs of earlier releases: TensorFlow)."""
    stored, _ = folder.stored()
    backend = (stored or {}).get("backend", "tensorflow")
    return backend if isinstance(backend, str) else None


def _load_checkpoint(strategy: Any, path: Path, started_on: str | None, backend: str) -> Any:
    """The last checkpoint, loaded on this backend (a ``.keras`` file is backend-neutral)."""
    from shapetrace.backends import BACKEND_TITLES
    from shapetrace.messages import one_line

    try:
        with strategy.scope():
            return keras.models.load_model(path)
    except Exception as error:  # a checkpoint this backend cannot read: say so, keep the run
        written = f" (written on {BACKEND_TITLES.get(started_on or '', started_on)})" if started_on else ""
        again = (
            f"resume it with KERAS_BACKEND={started_on}"
            if started_on and started_on != backend
            else "pass overwrite=True to start afresh"
        )
        raise UsageError(
            f"Cannot resume from {str(path)!r}{written} on {BACKEND_TITLES.get(backend, backend)} "
            f"({one_line(error)}): {again}, or pass overwrite=True to start afresh.",
            param="overwrite",
        ) from None


def _write_failed(error: OSError, folder: RunFolder, state: dict, total: int) -> UsageError:
    """One line for a write that failed mid-run, saying what is kept and how to continue."""
    import errno

    full = error.errno in (errno.ENOSPC, errno.EDQUOT)
    why = "No space left on device" if error.errno == errno.ENOSPC else (error.strerror or str(error))
    where = (
        f" writing {error.filename!r}"
        if getattr(error, "filename", None)
        else f" writing to {str(folder.root)!r}"
    )
    done = int(state.get("epochs_completed", 0))
    kept = (
        f"{done} completed epoch{'s' if done != 1 else ''} {'are' if done != 1 else 'is'} saved"
        if done
        else "no epoch had completed"
    )
    then = (
        "finish writing the outputs"
        if done >= total
        else f"resume from epoch {done + 1}"
        if done
        else "start again"
    )
    return UsageError(
        f"{why}{where}: training stopped; {kept}. {'Free some space' if full else 'Fix that'} and "
        f"rerun the same command to {then}."
    )


def _clone_in_scope(model: Any) -> Any:
    """The same model (config and weights) with its variables created in the current strategy scope."""
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def _worker_folder(output: RunFolder) -> RunFolder:
    """A non-chief worker's private run folder: a temporary copy of ``--output`` as this worker
    sees it (on a shared filesystem it resumes from the chief's epochs; otherwise it starts empty)."""
    import shutil
    import tempfile

    folder = RunFolder(Path(tempfile.mkdtemp(prefix="shapetrace-worker-")))
    if output.root.is_dir():
        try:
            for name in FILES.values():
                if (output.root / name).is_file():
                    shutil.copy2(output.root / name, folder.root / name)
            if output.checkpoints.is_dir():
                shutil.copytree(output.checkpoints, folder.checkpoints)
        except OSError:
            folder.clear()  # unreadable: start empty; the agreement below decides
    return folder


def _agreed_folder(
    strategy: tf.distribute.Strategy, folder: RunFolder, config: TrainConfig
) -> tuple[int, list[dict], dict | None]:
    """``_validate_folder`` on every worker, then a collective check that all found the same epochs.

    Every worker reaches the collective (also one whose check failed), so a refusal or a mismatch
    stops all workers with one clear line instead of leaving the others waiting for the chief.
    The chief writes nothing before this point, so the copies the other workers took are stable.
    """
    import tensorflow as tf

    try:
        found, error = _validate_folder(folder, config), None
    except UsageError as refused:
        found, error = (0, [], None), refused
    completed = -1.0 if error is not None else float(found[0])

    def exchange() -> Any:
        context = tf.distribute.get_replica_context()
        value = tf.constant(completed, tf.float64)
        return context.all_reduce(
            "SUM", tf.stack([value, value * value, tf.constant(float(error is not None), tf.float64)])
        )

    totals = strategy.experimental_local_results(strategy.run(tf.function(exchange)))[0].numpy()
    total, squares, refusals = (float(v) for v in totals)
    workers = strategy.num_replicas_in_sync
    if error is not None:
        raise error
    if refusals:
        raise UsageError(
            f"Another worker refused the run folder ({int(refusals)} of {workers}; its message says why): "
            "no worker trained."
        )
    if total * total != workers * squares:  # not all equal (the same verdict on every worker)
        raise UsageError(
            f"The workers found different completed epochs in output={str(config.output)!r} (this one "
            f"{int(completed)}, mean {total / workers:g}): resuming a multi-worker run needs `output` on "
            "a filesystem every worker sees, or overwrite=True.",
            param=("output", "overwrite"),
        )
    return found


def _validate_folder(folder: RunFolder, config: TrainConfig) -> tuple[int, list[dict], dict | None]:
    """How many epochs the folder already holds for this config (0 = start afresh).

    Raises:
        UsageError: the folder cannot be written, holds something else, or a finished or
            different run (without ``--overwrite``).
    """
    folder.validate_writable()
    if folder.is_empty():
        return 0, [], None
    stored_config, state = folder.stored()
    where = str(folder.root)
    if stored_config is None:
        raise UsageError(
            f"output={where!r} is not empty and is not a shapetrace run folder: choose a new or "
            "empty folder (nothing there was touched).",
            param="output",
        )
    if config.overwrite:
        return 0, [], None
    previous = TrainConfig.from_dict(stored_config.get("config", {}))
    if state and state.get("finished"):
        raise UsageError(
            f"output={where!r} already holds a finished run ({state.get('epochs_completed')} epochs): "
            "pass overwrite=True to replace it or choose another `output`.",
            param=("output", "overwrite"),
        )
    differs = config.differences(previous)
    if differs:
        raise UsageError(
            f"output={where!r} holds an interrupted run with different options ({', '.join(differs)}): "
            "rerun with the same options to resume it, or pass overwrite=True to start afresh.",
            param=("output", "overwrite"),
        )
    completed = int((state or {}).get("epochs_completed", 0))
    history = folder.read_history()[:completed]  # rows written after the last commit are dropped
    if completed and len(history) != completed:
        raise UsageError(
            f"{str(folder.path('history'))!r} lacks epochs its state records: use overwrite=True.",
            param="overwrite",
        )
    return completed, history, state if completed else None


class _HistoryCallback(keras.callbacks.Callback):
    """Keras callback: per-epoch checkpoint, best model, history and state, each written atomically.

    ``state.json`` is written last and is the commit point: a run killed between two writes
    resumes from the epoch the state names, and history rows beyond it are dropped.
    """

    def __init__(
        self,
        folder: RunFolder,
        history: list[dict],
        state: dict,
        reporter: Reporter,
        steps: int,
        backend: str,
    ):
        super().__init__()
        self.folder = folder
        self.history = list(history)
        self.state = dict(state)
        self.reporter = reporter
        self.steps = steps
        self.phase = ""
        self.backend = backend
        self.diverged: tuple[int, int] | None = None
        self._epoch = 0
        self._started = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch
        self._started = time.perf_counter()
        self.reporter.epoch_begin(epoch, self.steps)

    def on_train_batch_end(self, step: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        loss = logs.get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.diverged = (self._epoch, step)
            self.model.stop_training = True
            return
        self.reporter.batch_end(self._epoch, step, logs)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = dict(logs or {})
        if self.diverged is not None or not all(math.isfinite(float(v)) for v in logs.values()):
            self.diverged = self.diverged or (epoch, self.steps - 1)
            self.model.stop_training = True
            return
        row = {
            "epoch": epoch + 1,
            "phase": self.phase,
            "loss": float(logs["loss"]),
            "accuracy": float(logs["accuracy"]),
            "val_loss": float(logs["val_loss"]),
            "val_accuracy": float(logs["val_accuracy"]),
            "lr": _current_lr(self.model),
            "seconds": round(time.perf_counter() - self._started, 3),
        }
        folder = self.folder
        checkpoint = folder.checkpoint(epoch + 1)
        atomic_save_model(self.model, checkpoint)
        best = self.state.get("best")
        if best is None or row["val_accuracy"] > best["val_accuracy"]:
            atomic_copy(checkpoint, folder.path("best"))
            best = {"epoch": row["epoch"], "val_accuracy": row["val_accuracy"], "val_loss": row["val_loss"]}
        self.history.append(row)
        folder.write_history(self.history)
        previous = self.state.get("checkpoint")
        self.state = {
            "schema": SCHEMA,
            "backend": self.backend,
            "epochs_completed": epoch + 1,
            "phase": self.phase,
            "checkpoint": str(checkpoint.relative_to(folder.root)),
            "best": best,
            "finished": False,
        }
        folder.write_json("state", self.state)
        if previous and previous != self.state["checkpoint"]:
            (folder.root / previous).unlink(missing_ok=True)
        self.reporter.epoch_end(epoch, row)


def _current_lr(model: Any) -> float:
    optimizer = model.optimizer
    lr = optimizer.learning_rate
    try:
        return float(np.asarray(lr))
    except (TypeError, ValueError):
        return float(np.asarray(lr(optimizer.iterations)))


def _evaluate(model: Any, datasets: Datasets, row: dict) -> dict:
    """Accuracy/loss from the epoch's row, plus per-class accuracy and the confusion matrix."""
    probabilities = _predict(model, datasets.val)
    predicted = np.argmax(probabilities, axis=-1)
    truth = np.asarray(datasets.val_labels)
    n = len(datasets.info.class_names)
    confusion = np.zeros((n, n), dtype=int)
    np.add.at(confusion, (truth, predicted), 1)
    per_class = {
        name: (float(confusion[i, i] / confusion[i].sum()) if confusion[i].sum() else None)
        for i, name in enumerate(datasets.info.class_names)
    }
    return {
        "val_accuracy": float(row["val_accuracy"]),
        "val_loss": float(row["val_loss"]),
        "accuracy_recomputed": float(np.mean(predicted == truth)),
        "per_class_accuracy": per_class,
        "confusion_matrix": confusion.tolist(),
        "confusion_matrix_axes": "rows = true class, columns = predicted class",
    }


def _predict(model: Any, batches: Any) -> np.ndarray:
    """``model.predict`` over the validation batches; on JAX and PyTorch the last, partial batch
    is padded to the full batch size (inference is per image: the padding changes nothing) so
    that one compiled predict step serves every batch."""
    if not isinstance(batches, keras.utils.PyDataset):  # tf.data
        return np.asarray(model.predict(batches, verbose=0))
    parts = []
    full = None
    for index in range(len(batches)):
        x, _ = batches[index]
        n = len(x)
        full = full or n
        if n < full:
            x = np.concatenate([x, np.zeros((full - n, *x.shape[1:]), dtype=x.dtype)])
        parts.append(np.asarray(model.predict_on_batch(x))[:n])
    return np.concatenate(parts)


def _curves_png(rows: list[dict], phases: Sequence[Phase]) -> bytes:
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 3.6), dpi=100)
    FigureCanvasAgg(figure)
    epochs = [r["epoch"] for r in rows]
    for index, (metric, title) in enumerate((("loss", "loss"), ("accuracy", "accuracy"))):
        ax = figure.add_subplot(1, 2, index + 1)
        ax.plot(epochs, [r[metric] for r in rows], marker="o", label="train")
        ax.plot(epochs, [r[f"val_{metric}"] for r in rows], marker="o", label="validation")
        for phase in phases[1:]:
            ax.axvline(phase.first_epoch + 0.5, color="grey", linestyle="--", linewidth=1)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
