"""Which backend trains, and on how many devices (``--distribute``), through each backend's own engine.

* TensorFlow: ``tf.distribute`` (``MirroredStrategy`` over the local devices,
  ``MultiWorkerMirroredStrategy`` configured by ``TF_CONFIG``).
* JAX: ``keras.distribution.DataParallel`` over every local device for ``mirrored``; Keras
  shards each batch and JAX averages the gradients. Keras's multi-process JAX setup
  (``keras.distribution.initialize``) is not wired to ``multi-worker``: refused in one line.
* PyTorch: Keras has no multi-device path on this backend: ``mirrored`` and ``multi-worker``
  are refused in one line.

Nothing here averages gradients itself. Every "strategy" offers what ``train`` uses:
``scope()`` and ``num_replicas_in_sync``.
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from typing import Any

from shapetrace.backends import BACKEND_TITLES
from shapetrace.errors import UsageError
from shapetrace.train.config import Distribute

__all__ = ["TRAIN_BACKENDS", "require_training_backend", "make_strategy", "Local", "JaxDataParallel"]

TRAIN_BACKENDS = ("tensorflow", "jax", "torch")
"""Keras backends ``shapetrace train`` runs on (NumPy's backend cannot compute gradients)."""


def require_training_backend() -> str:
    """The backend Keras runs on, refused in one line when it cannot train."""
    from shapetrace.tracing._keras_graph import backend_name

    backend = backend_name()
    if backend not in TRAIN_BACKENDS:
        names = ", ".join(BACKEND_TITLES[b] for b in TRAIN_BACKENDS)
        raise UsageError(
            f"shapetrace train needs a Keras backend that trains ({names}), but Keras is set to "
            f"{backend}: run it with KERAS_BACKEND=jax, tensorflow or torch."
        )
    return backend


class Local:
    """One device, the backend's default: what ``--distribute none`` trains on."""

    num_replicas_in_sync = 1

    def scope(self) -> Any:
        return nullcontext()


class JaxDataParallel:
    """``keras.distribution.DataParallel`` over every local device (JAX)."""

    def __init__(self) -> None:
        from shapetrace.tracing._keras_graph import keras

        devices = keras.distribution.list_devices()
        self.distribution = keras.distribution.DataParallel(devices=devices)
        self.num_replicas_in_sync = len(devices)

    def scope(self) -> Any:
        # A scope, not set_distribution: the user's process keeps its own global setting.
        return self.distribution.scope()


def make_strategy(kind: Distribute) -> Any:
    """What trains the model for ``--distribute`` on this backend (created before any other work).

    Raises:
        UsageError: a multi-device mode this backend has no supported path for.
    """
    from shapetrace.tracing._keras_graph import backend_name

    kind = Distribute(kind)
    backend = backend_name()
    if backend == "tensorflow":
        return _tensorflow_strategy(kind)
    if kind is Distribute.none:
        return Local()
    title = BACKEND_TITLES.get(backend, backend)
    if backend == "jax" and kind is Distribute.mirrored:
        return JaxDataParallel()
    if backend == "jax":
        raise UsageError(
            "distribute=multi-worker runs on TensorFlow (tf.distribute, TF_CONFIG); on JAX use "
            "distribute=mirrored (keras.distribution data parallel over this machine's devices).",
            param="distribute",
        )
    raise UsageError(
        f"distribute={kind.value} has no supported multi-device path on {title} in Keras: use "
        "distribute=none here, or the JAX (mirrored) or TensorFlow (mirrored, multi-worker) backend.",
        param="distribute",
    )


def _tensorflow_strategy(kind: Distribute) -> Any:
    import tensorflow as tf

    if kind is Distribute.none:
        return tf.distribute.get_strategy()
    if kind is Distribute.mirrored:
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if not os.environ.get("TF_CONFIG"):
        raise UsageError(
            "distribute=multi-worker needs TF_CONFIG (the cluster and this worker's task) in the "
            "environment: see docs/train.md for a two-worker launch.",
            param="distribute",
        )
    return tf.distribute.MultiWorkerMirroredStrategy()
