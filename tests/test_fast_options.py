"""The fast training options give the numbers of the default path on the CPU: torch.compile
(the "aot_eager" backend: the graph capture and autograd of the compiled path, without a C++
toolchain) follows the eager loss trajectory, the fused SGD kernel equals the for-loop one, and
evaluation batches sized by device score the same as the configured size."""

import dataclasses

import numpy as np
import pytest
import torch
from conftest import REPO, stage_assets, tiny_config

from haframe.assets import RunAssets
from haframe.data.kinds.synthetic import planted_hierarchy
from haframe.inference import build_model, predict
from haframe.runs import ConfigError, Evaluation
from haframe.study import Study, schema_errors
from haframe.train import make_optimizer, prepare_model

SCHEMA = REPO / "workflow/schemas/config.schema.yaml"


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> RunAssets:
    return stage_assets(tmp_path_factory.mktemp("assets"), planted_hierarchy((3, 3)))


def spec(variant: str, **training):
    run = Study(tiny_config()).run("synthetic", variant, 0)
    return dataclasses.replace(run, training=dataclasses.replace(run.training, **training))


def losses(run, assets, steps: int = 6) -> list[float]:
    """The training losses of ``steps`` SGD steps on fixed batches, from seeded weights."""
    torch.manual_seed(0)
    model = prepare_model(run, assets, torch.device("cpu"))
    optimizer = make_optimizer(model, run)
    assert (model._compiled_call_impl is not None) == bool(run.training.compile)  # the option took effect
    assert bool(optimizer.defaults["fused"]) == run.training.fused_optimizer
    generator = torch.Generator().manual_seed(1)
    images = torch.randn(steps, 16, 3, 16, 16, generator=generator)
    labels = torch.randint(0, assets.num_classes, (steps, 16), generator=generator)
    model.train()
    model.classifier.start_epoch(run.seed, 0)
    trajectory = []
    for batch, target in zip(images, labels):
        outputs, features = model(batch)
        loss = model.classifier.loss(outputs, features, target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        trajectory.append(float(loss.detach()))
    return trajectory


@pytest.mark.parametrize("variant", ["ce_II", "haframe"])
def test_compiled_training_follows_the_eager_loss_trajectory(assets, variant):
    eager = losses(spec(variant), assets)
    compiled = losses(spec(variant, compile="aot_eager"), assets)
    assert eager[-1] < eager[0]  # it learns: the comparison is not between two constant runs
    np.testing.assert_allclose(compiled, eager, rtol=1e-4, atol=1e-5)


def test_the_fused_sgd_kernel_gives_the_for_loop_numbers(assets):
    np.testing.assert_allclose(
        losses(spec("haframe", fused_optimizer=True), assets), losses(spec("haframe"), assets), rtol=1e-6, atol=1e-7
    )


def test_an_unknown_compile_backend_is_refused_before_any_job():
    config = tiny_config()
    config["training"]["compile"] = "inductorr"
    assert schema_errors(config, SCHEMA) == []  # the schema lists the key; its option checks the value
    with pytest.raises(
        ConfigError,
        match=r"^training.compile: expected one of inductor, aot_eager, cudagraphs or null, "
        r"got 'inductorr'$",
    ):
        Study(config)


def test_evaluation_batches_sized_by_device_score_the_same(assets):
    run = spec("ce_II")
    torch.manual_seed(0)
    model = build_model(run, assets).eval()
    images = torch.randn(300, 3, 16, 16)
    targets = torch.randint(0, assets.num_classes, (300,))

    class Batches:
        def __init__(self, size):
            self.size = size

        def epoch(self, seed=0, epoch=0):
            for start in range(0, len(images), self.size):
                yield images[start : start + self.size], targets[start : start + self.size]

    automatic = Evaluation(batch_size=None).batch_size_on("cpu")
    assert automatic == Evaluation.AUTOMATIC_BATCH["cpu"]
    with pytest.raises(
        ConfigError, match=r"evaluation.batch_size: null \(sized by device\) cannot go with drop_last: true"
    ):
        Evaluation(batch_size=None, drop_last=True)
    a = predict(model, Batches(automatic), torch.device("cpu"), "fp32").scores
    b = predict(model, Batches(7), torch.device("cpu"), "fp32").scores
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_the_fast_profile_file_validates_and_sets_every_option():
    import yaml

    from haframe.summary import _merged

    config = _merged([yaml.safe_load((REPO / "config" / name).read_text()) for name in ("config.yaml", "fast.yaml")])
    assert schema_errors(config, SCHEMA) == []
    run = Study(config).run("inat19", "haframe", 0)
    assert (run.training.precision, run.training.channels_last, run.training.compile, run.training.fused_optimizer) == (
        "bf16",
        True,
        "inductor",
        True,
    )
    assert run.evaluation.batch_size is None and run.training.epochs == 100  # the rest: the study's


def test_the_optimizer_is_recorded_only_away_from_sgd_and_adam_trains_its_own_way(assets):
    sgd, adam = spec("ce_II"), spec("ce_II", optimizer="adam", lr=0.001)
    assert "optimizer" not in sgd.to_dict()["training"] and adam.to_dict()["training"]["optimizer"] == "adam"
    model = prepare_model(adam, assets, torch.device("cpu"))
    assert isinstance(make_optimizer(model, adam), torch.optim.Adam)
    assert isinstance(make_optimizer(prepare_model(sgd, assets, torch.device("cpu")), sgd), torch.optim.SGD)
    trajectory = losses(adam, assets)
    assert trajectory[-1] < trajectory[0] and trajectory != losses(
        dataclasses.replace(adam, training=sgd.training), assets
    )
