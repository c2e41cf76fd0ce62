"""``shapetrace train``: transfer learning on grayscale data, the channel question answered up front.

Importing this package does not import TensorFlow; :func:`train` does.
"""

from __future__ import annotations

from shapetrace.train.config import Adapt, Distribute, TrainConfig

__all__ = ["Adapt", "Distribute", "TrainConfig", "train"]


def train(config: TrainConfig, reporter=None, callbacks=()):
    """Run a training (see :func:`shapetrace.train.run.train`)."""
    from shapetrace.train.run import train as _train

    return _train(config, reporter=reporter, callbacks=callbacks)
