"""Renderables for ``shapetrace train``: the plan before the first epoch, epoch lines, the summary."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from shapetrace.render.fit import compact_shape_text

if TYPE_CHECKING:
    from shapetrace.train.data import DataInfo
    from shapetrace.train.run import Plan, TrainResult

__all__ = ["plan_report", "epoch_line", "metrics_text", "summary_table"]


def plan_report(plan: Plan, *, compact: bool = False) -> RenderableType:
    """What will be trained, on what, and the trace verdict for the model exactly as fed.

    ``compact``: for a terminal, where the lines wrap at the window's width: shapes are
    written without spaces so that none is split.
    """
    config, data = plan.config, plan.data
    assert isinstance(config.size, tuple)  # a plan's config is resolved
    h, w = config.size
    weights = "from scratch" if not config.pretrained else f"weights {config.weights}"
    lines = [
        Text.assemble(
            ("model  ", "bold"), f"{plan.application} ({weights}), input {h}×{w}×{config.channels}"
        ),
        Text.assemble(("adapt  ", "bold"), plan.adapt_note),
        Text.assemble(
            ("data   ", "bold"),
            f"{data.source}: {data.train:,} train / {data.val:,} validation, {len(data.class_names)} classes",
            _data_notes(data),
        ),
        Text.assemble(
            ("run    ", "bold"),
            f"{_epochs(plan.total_epochs)} × {plan.steps_per_epoch} steps (batch {config.batch_size}"
            + (f" over {plan.replicas} replicas" if plan.replicas > 1 else "")
            + f") on {_title(plan.backend)} → {config.output}",
        ),
        Text.assemble(("trace  ", "bold"), compact_shape_text(plan.verdict) if compact else plan.verdict),
    ]
    if plan.resumed_from:
        lines.append(
            Text.assemble(
                ("resume ", "bold yellow"),
                f"{plan.resumed_from} of {_epochs(plan.total_epochs)} already done"
                + (f" (on {_title(plan.started_on)})" if plan.started_on else "")
                + f"; continuing with epoch {plan.resumed_from + 1}",
            )
        )
    return Group(*lines)


def _title(backend: str) -> str:
    from shapetrace.backends import BACKEND_TITLES

    return BACKEND_TITLES.get(backend, backend)


def _data_notes(data: DataInfo) -> str:
    notes = []
    if data.skipped_files:
        examples = ", ".join(data.skipped_examples)
        notes.append(f"{data.skipped_files} non-image files skipped ({examples})")
    if getattr(data, "empty_classes", ()):
        names = ", ".join(data.empty_classes)
        notes.append(
            f"{len(data.empty_classes)} class folder{'s' if len(data.empty_classes) > 1 else ''} without images ignored ({names})"
        )
    if len(data.modes) > 1:
        notes.append("modes " + ", ".join(f"{m}×{n}" for m, n in data.modes.items()))
    if data.distinct_sizes > 1:
        notes.append(f"{data.distinct_sizes} different image sizes, all resized")
    return "; " + "; ".join(notes) if notes else ""


def metrics_text(logs: dict[str, Any]) -> str:
    """``loss 0.123  acc 96.1%`` from Keras logs (validation too when present)."""
    parts = []
    for key, label in (
        ("loss", "loss"),
        ("accuracy", "acc"),
        ("val_loss", "val_loss"),
        ("val_accuracy", "val_acc"),
    ):
        if logs.get(key) is None:
            continue
        value = float(logs[key])
        parts.append(f"{label} {value:.1%}" if "accuracy" in key else f"{label} {value:.4f}")
    return "  ".join(parts)


def epoch_line(row: dict[str, Any], total: int) -> str:
    width = len(str(total))
    return (
        f"epoch {row['epoch']:>{width}}/{total} [{row['phase']}]  {metrics_text(row)}  {row['seconds']:.1f}s"
    )


def summary_table(result: TrainResult) -> Table:
    """Best epoch, final train/validation numbers, time, and where the outputs went."""
    table = Table(title="shapetrace train", show_header=False, title_justify="left")
    table.add_column("", style="bold")
    table.add_column("")
    final = result.final
    table.add_row(
        "best epoch",
        f"{result.best_epoch} of {result.epochs} (val_acc {result.best_val_accuracy:.2%}, "
        f"val_loss {result.best_val_loss:.4f})",
    )
    table.add_row("final train", f"loss {final['loss']:.4f}  acc {final['accuracy']:.2%}")
    table.add_row("final validation", f"loss {final['val_loss']:.4f}  acc {final['val_accuracy']:.2%}")
    resumed = f" (resumed after epoch {result.resumed_from})" if result.resumed_from else ""
    table.add_row("time", f"{result.seconds:.1f}s on {_title(result.backend)}{resumed}")
    table.add_row("outputs", result.output)
    for key in ("model", "best", "history", "metrics", "curves", "config", "trace"):
        path = result.files.get(key)
        if path:
            table.add_row("", path.rsplit("/", 1)[-1])
    return table


def _epochs(count: int) -> str:
    return f"{count} epoch" + ("" if count == 1 else "s")
