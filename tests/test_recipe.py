"""The training recipe's phases: from scratch one phase; pretrained, the head and then fine-tuning."""

from __future__ import annotations

from shapetrace.train.config import TrainConfig
from shapetrace.train.recipe import Phase, phases, steps_per_epoch

TINY = dict(model="mobilenetv3small", size=(32, 32), epochs=3)


def test_from_scratch_the_whole_model_trains_in_one_phase():
    assert phases(TrainConfig(**TINY).resolved()) == (Phase("train", 0, 3, 3e-3),)
    assert phases(TrainConfig(**TINY, lr=0.01).resolved()) == (Phase("train", 0, 3, 0.01),)


def test_pretrained_trains_the_head_then_fine_tunes_at_a_tenth():
    config = TrainConfig(**TINY, weights="imagenet", fine_tune_epochs=2).resolved()
    assert phases(config) == (Phase("head", 0, 3, 1e-3), Phase("fine-tune", 3, 5, 1e-4))
    assert phases(TrainConfig(**TINY, weights="imagenet").resolved()) == (Phase("head", 0, 3, 1e-3),)
    config = TrainConfig(**TINY, weights="imagenet", fine_tune_epochs=1, fine_tune_lr=5e-5).resolved()
    assert phases(config)[-1] == Phase("fine-tune", 3, 4, 5e-5)


def test_a_partial_last_batch_is_a_step():
    assert steps_per_epoch(8, 4) == 2
    assert steps_per_epoch(9, 4) == 3
    assert steps_per_epoch(1, 16) == 1
