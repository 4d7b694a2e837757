"""The training loop's progress checks (haframe.train._check_progress): a non-finite loss stops
a run, naming the epoch and the last finite loss; a training error stuck at chance does, when
``training.chance_patience`` asks for it."""

import dataclasses
import math

import pytest
from conftest import tiny_config

from haframe.study import Study
from haframe.train import TrainingDiverged, _check_progress


def run(**training):
    spec = Study(tiny_config()).run("synthetic", "ce_II", 0)
    return dataclasses.replace(spec, training=dataclasses.replace(spec.training, **training))


def row(epoch, loss, error, val_loss=1.0):
    return {"epoch": epoch, "lr": 0.1, "train_loss": loss, "val_loss": val_loss, "train_top1_error": error}


def test_a_non_finite_loss_names_the_epoch_and_the_last_finite_loss():
    rows = [row(1, 2.5, 80.0), row(2, 1.75, 60.0), row(3, math.nan, 88.9)]
    with pytest.raises(
        TrainingDiverged,
        match=r"seed0: the loss diverged in epoch 3 \(training loss nan, validation loss 1.0; "
        r"last finite training loss: 1.75 \(epoch 2\)",
    ):
        _check_progress(rows, run(), chance=100 * (1 - 1 / 9))
    with pytest.raises(TrainingDiverged, match=r"epoch 1 \(training loss inf, .*last finite training loss: none"):
        _check_progress([row(1, math.inf, 50.0)], run(), chance=88.9)
    with pytest.raises(TrainingDiverged, match=r"epoch 1 \(training loss 2.0, validation loss inf"):  # validation too
        _check_progress([row(1, 2.0, 50.0, val_loss=math.inf)], run(), chance=88.9)


def test_a_training_error_at_chance_stops_the_run_only_when_asked():
    chance = 100 * (1 - 1 / 9)
    stuck = [row(epoch, 2.2, chance - 0.5) for epoch in range(1, 4)]
    _check_progress(stuck, run(), chance=chance)  # off by default
    _check_progress(stuck, run(chance_patience=4), chance=chance)  # not yet 4 epochs
    with pytest.raises(TrainingDiverged, match=r"stayed at chance \(88.9%\) for 3 epochs, up to epoch 3"):
        _check_progress(stuck, run(chance_patience=3), chance=chance)
    learning = [*stuck[:2], row(3, 1.9, 70.0)]
    _check_progress(learning, run(chance_patience=3), chance=chance)
