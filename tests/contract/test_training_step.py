"""A method may own its training step (``Method.training_loss``): the training loop runs a
method's step, here mixup's (tests/contract/mixup.py, a method module of the tests only)."""

import math

import pytest
import torch
from conftest import stage_assets

from haframe import methods
from haframe.methods.base import Method
from haframe.train import _train_epoch, make_optimizer, prepare_model

from . import mixup
from .tiny import TREE, Batches, random_batches, run_spec

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    return stage_assets(tmp_path_factory.mktemp("assets"), TREE)


@pytest.fixture
def mixup_run(monkeypatch):
    monkeypatch.setitem(methods.METHODS, "mixup", mixup.METHOD)
    return run_spec("mixup", "II")


def forward_of(model):
    return lambda images: model(images)


def test_mixup_step_differs_from_the_plain_step_and_is_seeded(assets, mixup_run):
    torch.manual_seed(0)
    model = prepare_model(mixup_run, assets, CPU)
    model.train()
    ((images, labels),) = random_batches(1)
    plain, _ = Method.training_loss(mixup.METHOD, model, images, labels, forward_of(model))  # the default step
    losses = []
    for _ in range(2):
        model.classifier.start_epoch(seed=0, epoch=0)
        loss, outputs = mixup.METHOD.training_loss(model, images, labels, forward_of(model))
        assert outputs.shape == (len(labels), assets.num_classes)
        losses.append(float(loss.detach()))
    assert math.isfinite(losses[0]) and losses[0] != pytest.approx(float(plain.detach()), rel=1e-3)
    assert losses[0] == losses[1]  # the same seed and epoch mix the same way


def test_training_with_mixup_runs_its_step(assets, mixup_run, monkeypatch):
    torch.manual_seed(0)
    model = prepare_model(mixup_run, assets, CPU)
    optimizer = make_optimizer(model, mixup_run)
    calls = []
    step = mixup.METHOD.training_loss

    def counted(*args):
        calls.append(args)
        return step(*args)

    monkeypatch.setattr(mixup.METHOD, "training_loss", counted)
    before = model.classifier.linear.weight.detach().clone()
    rows = [_train_epoch(model, Batches(random_batches(3)), optimizer, mixup_run, CPU, epoch) for epoch in range(2)]
    assert len(calls) == 6
    assert all(math.isfinite(row["train_loss"]) for row in rows)
    assert not torch.equal(model.classifier.linear.weight, before)
