"""``shapetrace train``: transfer learning on grayscale data, the channel question answered up front.

Importing this package does not import TensorFlow; :func:`train` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from shapetrace.train.config import ChannelAdapter, Distribute, TrainConfig

if TYPE_CHECKING:
    from shapetrace.train.run import Reporter, TrainResult

__all__ = ["ChannelAdapter", "Distribute", "TrainConfig", "train"]


def train(
    config: TrainConfig, reporter: Reporter | None = None, callbacks: Sequence[Any] = ()
) -> TrainResult:
    """Run a training (see :func:`shapetrace.train.run.train`)."""
    from shapetrace.train.run import train as _train

    return _train(config, reporter=reporter, callbacks=callbacks)
