"""``shapetrace train [DATA_DIR]``: a thin layer over :func:`shapetrace.train.train`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from shapetrace.train.recipe import Phase
    from shapetrace.train.run import Plan

from shapetrace.cli.core import (
    DebugOption,
    app,
    emit,
    output_layout,
    reporting,
    stderr_console,
    stdout_console,
)
from shapetrace.errors import EXIT_INTERRUPTED
from shapetrace.train.config import DEFAULT_MODEL, DIGITS, ChannelAdapter, Distribute, TrainConfig

_SCRATCH_BAR = "Defaults give ≥ 93% on the digits in about 1.5 minutes on 2 CPU cores."


@app.command("train")
def train_command(
    data_dir: Annotated[
        str | None,
        typer.Argument(
            help="A folder with one sub-folder of images per class (default: scikit-learn's bundled digits).",
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        str, typer.Option("--model", "-m", help="A keras.applications name (see `shapetrace list`).")
    ] = DEFAULT_MODEL,
    size: Annotated[
        str | None,
        typer.Option(
            "--size",
            "-s",
            help="Input HxW (default: 32x32, or the model's minimum if larger).",
            show_default=False,
        ),
    ] = None,
    channels: Annotated[
        int, typer.Option("--channels", "-c", help="Read images with 1 (grayscale) or 3 (RGB) channels.")
    ] = 1,
    weights: Annotated[
        str,
        typer.Option(
            "--weights",
            "-w",
            help="none (from scratch), imagenet (downloads), or a local .weights.h5 of the 3-channel base.",
        ),
    ] = "none",
    adapt: Annotated[
        ChannelAdapter,
        typer.Option(
            "--adapt",
            help="How 1 channel meets a model declared for 3: repeat, broadcast, sum-stem or learned.",
        ),
    ] = ChannelAdapter.repeat,
    epochs: Annotated[
        int, typer.Option("--epochs", "-e", help="Epochs (pretrained: of the head on the frozen base).")
    ] = 8,
    fine_tune_epochs: Annotated[
        int,
        typer.Option(
            "--fine-tune-epochs", help="Pretrained only: epochs with the whole model trainable afterwards."
        ),
    ] = 0,
    batch_size: Annotated[
        int, typer.Option("--batch-size", "-b", help="Global batch size (split over replicas).")
    ] = 32,
    lr: Annotated[
        float | None,
        typer.Option(
            "--lr", help="Learning rate (default 3e-3 from scratch, 1e-3 for a head).", show_default=False
        ),
    ] = None,
    fine_tune_lr: Annotated[
        float | None,
        typer.Option(
            "--fine-tune-lr", help="Fine-tuning learning rate (default --lr / 10).", show_default=False
        ),
    ] = None,
    val_split: Annotated[
        float, typer.Option("--val-split", help="Held-out fraction, split per class.")
    ] = 0.2,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed for the split, shuffling and initialisation.")
    ] = 0,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            help="Use only N images (seeded, class-proportional), for quick trials.",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            help="Run folder (default: runs/DATA-MODEL-HxW-ADAPT, as in runs/digits-resnet50-32x32-repeat).",
            show_default=False,
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the run already in --output.")
    ] = False,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue the interrupted run in --output (also what rerunning the same command does).",
        ),
    ] = False,
    distribute: Annotated[
        Distribute,
        typer.Option(
            "--distribute",
            help="none, mirrored (all local devices) or multi-worker (one process per worker, configured by TF_CONFIG).",
        ),
    ] = Distribute.none,
    debug: DebugOption = False,
) -> None:
    """Train a keras.applications model on grayscale images, the channel question answered up front.

    Prints the trace verdict for the model exactly as it will be fed, a progress bar per
    epoch, and a summary. Outputs (model, best checkpoint, history, metrics, curves, config,
    trace) go to --output. Exit 0 on success, 1 when the loss diverges, 2 for bad usage or input.
    """
    from shapetrace.extras import require_train
    from shapetrace.train.channels import AdaptRefused

    with reporting(debug):
        require_train(for_="shapetrace train")  # before the options: installing comes first
    config = TrainConfig(
        data=data_dir if data_dir is not None else DIGITS,
        model=model,
        size=size,
        channels=channels,
        weights=weights,
        adapt=adapt,
        epochs=epochs,
        fine_tune_epochs=fine_tune_epochs,
        batch_size=batch_size,
        lr=lr,
        fine_tune_lr=fine_tune_lr,
        val_split=val_split,
        seed=seed,
        limit=limit,
        output=output,
        overwrite=overwrite,
        resume=resume,
        distribute=distribute,
    )
    reporter = _ProgressReporter()
    with reporting(debug):
        from shapetrace.train.run import train

        try:
            result = train(config, reporter=reporter)
        except AdaptRefused as refused:
            from shapetrace.render.table import trace_table

            layout = output_layout()
            table = trace_table(refused.trace, changes_only=True)
            emit(trace_table(refused.trace, changes_only=True, layout=layout), measure=table, layout=layout)
            raise
        except KeyboardInterrupt:
            reporter.close()
            done = reporter.completed
            stderr_console.print(
                f"[bold red]error:[/] interrupted{f' after epoch {done}' if done else ''}; rerun the same "
                "command to resume from the last completed epoch.",
                markup=True,
            )
            raise typer.Exit(EXIT_INTERRUPTED) from None
        finally:
            reporter.close()
    from shapetrace.render.train import summary_table

    table = summary_table(result)
    emit(table, measure=table, layout=output_layout())


class _ProgressReporter:
    """A rich progress bar per epoch on a terminal; one plain line per epoch when piped."""

    def __init__(self) -> None:
        self.console = stdout_console()
        self.live = self.console.is_terminal
        self.progress: Progress | None = None
        self.task: TaskID | None = None
        self.total = 0
        self.completed = 0

    def plan(self, plan: Plan) -> None:
        from shapetrace.render.train import plan_report

        self.total = plan.total_epochs
        self.completed = plan.resumed_from
        # On a terminal the plan wraps at the window's width, between words; piped, one line each.
        self.console.print(plan_report(plan, compact=self.live), soft_wrap=not self.live)

    def phase_begin(self, phase: Phase, epoch: int, steps: int) -> None:
        if phase.name != "train":
            self.console.print(
                f"[bold]{phase.name}[/] phase: epochs {phase.first_epoch + 1}–{phase.last_epoch} at lr {phase.lr:g}"
            )

    def epoch_begin(self, epoch: int, steps: int) -> None:
        if not self.live:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.table import Column

        if self.progress is None:
            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                # In a narrow window the metrics wrap onto a second line instead of squeezing
                # the bar and the counts into "…".
                TextColumn("{task.fields[metrics]}", table_column=Column(no_wrap=False)),
                console=self.console,
            )
            self.progress.start()
        width = len(str(self.total))
        self.task = self.progress.add_task(
            f"epoch {epoch + 1:>{width}}/{self.total}", total=steps, metrics=""
        )

    def batch_end(self, epoch: int, step: int, logs: dict) -> None:
        if self.progress is not None and self.task is not None:
            from shapetrace.render.train import metrics_text

            self.progress.update(self.task, completed=step + 1, metrics=metrics_text(logs))

    def epoch_end(self, epoch: int, row: dict) -> None:
        from shapetrace.render.train import epoch_line, metrics_text

        self.completed = row["epoch"]
        if self.progress is not None and self.task is not None:
            self.progress.update(
                self.task, completed=self.progress.tasks[-1].total, metrics=metrics_text(row)
            )
        else:
            self.console.print(epoch_line(row, self.total), highlight=False)

    def finishing(self) -> None:
        self.close()

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
