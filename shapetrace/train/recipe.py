"""The training recipe: optimiser, phases, and what is trainable in each.

* From scratch (``--weights none``): the whole model trains for ``epochs`` with Adam and a cosine
  decay from ``lr``; BatchNorm momentum is lowered to 0.9 (see ``channels.BN_MOMENTUM_SCRATCH``).
* Pretrained: the base is frozen and called with ``training=False`` (BatchNorm in inference
  mode), the head trains for ``epochs`` at ``lr``; then, with ``fine_tune_epochs``, the base is
  unfrozen and the model recompiled at ``fine_tune_lr`` (BatchNorm stays in inference mode, as
  the Keras transfer-learning guide recommends for small data).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shapetrace.train.config import TrainConfig

__all__ = ["Phase", "phases", "compile_for", "unfreeze"]


@dataclass(frozen=True)
class Phase:
    name: str
    """``train`` (scratch), ``head`` or ``fine-tune``."""
    first_epoch: int
    """Global index of its first epoch (0-based)."""
    last_epoch: int
    """Global index one past its last epoch."""
    lr: float


def phases(config: TrainConfig) -> tuple[Phase, ...]:
    assert config.lr is not None and config.fine_tune_lr is not None  # resolved
    if not config.pretrained:
        return (Phase("train", 0, config.epochs, config.lr),)
    head = Phase("head", 0, config.epochs, config.lr)
    if not config.fine_tune_epochs:
        return (head,)
    return head, Phase(
        "fine-tune", config.epochs, config.epochs + config.fine_tune_epochs, config.fine_tune_lr
    )


def compile_for(model: Any, phase: Phase, steps_per_epoch: int) -> None:
    """Compile ``model`` for ``phase``: Adam with a cosine decay over the phase's steps."""
    from shapetrace.tracing._keras_graph import keras

    steps = max(1, (phase.last_epoch - phase.first_epoch) * steps_per_epoch)
    schedule = keras.optimizers.schedules.CosineDecay(phase.lr, decay_steps=steps, alpha=0.01)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )


def unfreeze(model: Any, base_name: str) -> None:
    """Make the base trainable for fine-tuning (it stays called with ``training=False``)."""
    model.get_layer(base_name).trainable = True


def steps_per_epoch(n_train: int, batch_size: int) -> int:
    return math.ceil(n_train / batch_size)
