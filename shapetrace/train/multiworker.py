"""``model.fit`` for MultiWorkerMirroredStrategy, as a custom loop (see ``MULTI_WORKER_FIT_WORKS``).

Every worker runs the same steps on its share of each global batch (tf.data auto-sharding by
data); gradients are summed across workers by the optimizer, so the weights stay identical.
Callbacks see what ``fit`` gives them: the epoch's running mean ``loss``/``accuracy`` after each
batch, plus ``val_loss``/``val_accuracy`` at the epoch's end, all reduced over every worker.
BatchNorm moving statistics (which Keras keeps per replica, aggregation ``none``) are averaged
across workers after each step, weighted by each replica's batch size.

TensorFlow is imported only when the loop runs: importing this module loads nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from shapetrace.tracing._keras_graph import keras, sublayers

if TYPE_CHECKING:
    import tensorflow as tf

    from shapetrace.train.data import Datasets

__all__ = ["MULTI_WORKER_FIT_WORKS", "fit_multi_worker"]

MULTI_WORKER_FIT_WORKS = False
"""Keras 3 (checked: 3.15.1 with TensorFlow 2.21) cannot ``fit`` under MultiWorkerMirroredStrategy:
its symbolic build reduces the first distributed batch eagerly ("Attempt to convert a value
(PerReplica…) to a Tensor", keras-team/keras#20585), and skipping that build fails later in the
metrics. So ``--distribute multi-worker`` trains with :func:`fit_multi_worker`, a custom loop
with the same callbacks, logs and outputs; flip this once Keras fixes ``fit`` to use it instead."""


def fit_multi_worker(
    model: Any,
    strategy: tf.distribute.Strategy,
    datasets: Datasets,
    *,
    initial_epoch: int,
    epochs: int,
    callbacks: Sequence[Any],
) -> None:
    """Train ``model`` (compiled) from ``initial_epoch`` up to ``epochs`` as ``model.fit`` would."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    train_data = strategy.experimental_distribute_dataset(datasets.train.with_options(options))
    val_data = strategy.experimental_distribute_dataset(datasets.val.with_options(options))
    _MultiWorkerSteps(model, strategy).fit(train_data, val_data, initial_epoch, epochs, callbacks)


def _sums(y: Any, p: Any) -> tuple[Any, Any, Any]:
    """Per-replica (sum of losses, number correct, number of examples)."""
    import tensorflow as tf

    losses = keras.losses.sparse_categorical_crossentropy(y, p)
    correct = tf.cast(tf.equal(tf.argmax(p, axis=-1, output_type=tf.int32), tf.cast(y, tf.int32)), tf.float32)
    return tf.reduce_sum(losses), tf.reduce_sum(correct), tf.cast(tf.shape(y)[0], tf.float32)


class _MultiWorkerSteps:
    """One phase's compiled train and validation steps, and the epoch loop that calls them.

    Made anew for each phase: a phase recompiles the model (a new optimizer) and may unfreeze
    the base (new trainable weights).
    """

    def __init__(self, model: Any, strategy: tf.distribute.Strategy) -> None:
        import tensorflow as tf

        self.model = model
        self.strategy = strategy
        self.optimizer = model.optimizer
        with strategy.scope():
            if not self.optimizer.built:
                self.optimizer.build(model.trainable_variables)
        self.weights = model.trainable_variables
        self.statistics = [
            v
            for layer in sublayers(model)
            if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable
            for v in (layer.moving_mean, layer.moving_variance)
        ]
        self.replicas = strategy.num_replicas_in_sync
        self.train_step = tf.function(self._train_step)
        self.val_step = tf.function(self._val_step)

    def fit(
        self, train_data: Any, val_data: Any, initial_epoch: int, epochs: int, callbacks: Sequence[Any]
    ) -> None:
        model = self.model
        callback_list = keras.callbacks.CallbackList(list(callbacks), model=model)
        model.stop_training = False
        callback_list.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            callback_list.on_epoch_begin(epoch)
            loss, accuracy = self._pass(self.train_step, train_data, callback_list)
            logs = {"loss": loss, "accuracy": accuracy}
            if not model.stop_training:
                val_loss, val_accuracy = self._pass(self.val_step, val_data)
                logs.update(val_loss=val_loss, val_accuracy=val_accuracy)
            callback_list.on_epoch_end(epoch, logs)
            if model.stop_training:
                break
        callback_list.on_train_end()

    def _pass(
        self, step: Callable[[Any], Any], batches: Iterable[Any], callback_list: Any = None
    ) -> tuple[float, float]:
        """(mean loss, accuracy) over ``batches``; with ``callback_list`` (training), the running
        means are reported after each batch, as ``fit`` does, and ``stop_training`` ends the pass."""
        loss_sum = correct = seen = 0.0
        for index, batch in enumerate(batches):
            if callback_list is not None:
                callback_list.on_train_batch_begin(index)
            batch_loss, batch_correct, batch_n = (float(v) for v in step(batch))
            loss_sum, correct, seen = loss_sum + batch_loss, correct + batch_correct, seen + batch_n
            if callback_list is not None:
                callback_list.on_train_batch_end(index, {"loss": loss_sum / seen, "accuracy": correct / seen})
                if self.model.stop_training:  # the loss is reduced over all workers: they all stop here
                    break
        return loss_sum / max(seen, 1.0), correct / max(seen, 1.0)

    def _train_step(self, batch: Any) -> list[Any]:
        return self._reduced(self.strategy.run(self._train_replica, args=batch))

    def _val_step(self, batch: Any) -> list[Any]:
        return self._reduced(self.strategy.run(self._val_replica, args=batch))

    def _reduced(self, results: Sequence[Any]) -> list[Any]:
        return [self.strategy.reduce("SUM", value, axis=None) for value in results]

    def _train_replica(self, x: Any, y: Any) -> tuple[Any, Any, Any]:
        import tensorflow as tf

        model = self.model
        context = tf.distribute.get_replica_context()
        with tf.GradientTape() as tape:
            p = model(x, training=True)
            loss_sum, correct, n = _sums(y, p)
            total = context.all_reduce("SUM", n)
            loss = loss_sum / total  # the global batch's mean: the optimizer sums replicas' gradients
            if model.losses:
                loss += tf.add_n(model.losses) / self.replicas
        grads = tape.gradient(loss, self.weights)
        grads = [tf.where(n > 0, g, tf.zeros_like(g)) if g is not None else None for g in grads]
        self.optimizer.apply_gradients(zip(grads, self.weights))
        if self.statistics:  # an empty replica's (NaN) statistics get weight 0
            weighted = [tf.where(n > 0, v.value * n, tf.zeros_like(v.value)) for v in self.statistics]
            averaged = context.all_reduce("SUM", weighted)
            for v, value in zip(self.statistics, averaged):
                v.assign(value / total)
        return loss_sum, correct, n

    def _val_replica(self, x: Any, y: Any) -> tuple[Any, Any, Any]:
        return _sums(y, self.model(x, training=False))
