"""Every method x every head it supports (``Method.heads``; auxiliary-only methods too, as they
are trained) on a 12-leaf tree: one optimisation step through the training loop and the
method's ``training_loss``, class scores of the right shape, and a state dict that reloads into
a freshly built model with identical predictions.

The cases are read from ``haframe.methods.METHODS`` when pytest collects: a module dropped
into ``src/haframe/methods/`` is covered with no edit here.
"""

import math

import numpy as np
import pytest
import torch
from conftest import stage_assets

from haframe.inference import build_model, predict
from haframe.methods import METHODS
from haframe.train import _train_epoch, make_optimizer, prepare_model

from .tiny import TREE, Batches, random_batches, run_spec

CPU = torch.device("cpu")
CASES = [(name, head) for name, method in sorted(METHODS.items()) for head in method.heads]


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    return stage_assets(tmp_path_factory.mktemp("assets"), TREE)


@pytest.mark.parametrize("method, head", CASES, ids=[f"{method}-{head}" for method, head in CASES])
def test_method_trains_predicts_and_reloads(assets, method, head, tmp_path):
    run = run_spec(method, head)
    torch.manual_seed(0)
    model = prepare_model(run, assets, CPU)
    optimizer = make_optimizer(model, run)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}

    row = _train_epoch(model, Batches(random_batches(1)), optimizer, run, CPU, epoch=0)
    assert math.isfinite(row["train_loss"]) and 0 <= row["train_top1_error"] <= 100, row
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    changed = [name for name in trainable if not torch.equal(before[name], model.get_parameter(name))]
    assert changed or not trainable, "one step changed no parameter"

    test = Batches(random_batches(2, seed=2))
    scores, targets, level_hits = predict(model, test, CPU, run.training.precision)
    classes = int(model.classifier.labels(torch.arange(assets.num_classes)).max()) + 1
    assert scores.shape == (16, classes) and scores.dtype == np.float32 and np.isfinite(scores).all()
    assert targets.shape == (16,) and ((0 <= targets) & (targets < classes)).all()
    if level_hits is not None:  # the method's own per-depth rule: one column per depth of the tree
        assert level_hits.shape == (16, TREE.height) and set(np.unique(level_hits)) <= {-1, 0, 1}
    assert METHODS[method].auxiliary_only or classes == assets.num_classes  # a variant ranks the leaves

    torch.save({"model": model.state_dict()}, tmp_path / "checkpoint.pt")
    torch.manual_seed(1)
    fresh = build_model(run, assets)
    assert not np.array_equal(predict(fresh, test, CPU, run.training.precision)[0], scores)
    fresh.load_state_dict(torch.load(tmp_path / "checkpoint.pt", weights_only=True)["model"])
    np.testing.assert_array_equal(predict(fresh, test, CPU, run.training.precision)[0], scores)
