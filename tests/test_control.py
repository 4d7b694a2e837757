"""The shuffled-hierarchy control: the same tree with the classes at permuted leaf slots, one
recorded permutation per seed (per repetition under the tuned protocol), everything the method
derives from the tree moved with it, and the true tree at evaluation."""

import dataclasses
from collections import Counter

import numpy as np
import pytest
import torch
from conftest import stage_assets, tiny_config

from haframe.assets import distance_correlation, leaf_permutation
from haframe.data.kinds.synthetic import SyntheticSpec, generate, planted_hierarchy
from haframe.data.prepared import write_prepared
from haframe.evaluate import evaluate_run
from haframe.protocol import trial_seed
from haframe.runs import ConfigError
from haframe.study import Study
from haframe.train import train_run


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    return stage_assets(tmp_path_factory.mktemp("assets"), planted_hierarchy((3, 3)), gamma=2.0)


def with_controls(**extra) -> dict:
    config = tiny_config(**extra)
    config["variants"]["haframe_shuffled"] = {"method": "haframe", "head": "II", "control": "shuffled_hierarchy"}
    config["variants"]["ce_shuffled"] = {"method": "ce", "head": "II", "control": "shuffled_hierarchy"}
    config["variants"]["etf"] = {"method": "etf", "head": "II"}
    config["variants"]["etf_shuffled"] = {"method": "etf", "head": "II", "control": "shuffled_hierarchy"}
    return config


def test_the_shuffled_tree_is_a_permutation_of_leaf_slots_over_the_same_shape(assets):
    p = leaf_permutation(7, assets.num_classes)
    shuffled = assets.shuffled(p)
    D, S = assets.distances, assets.frames["haframe"].S
    assert np.array_equal(shuffled.distances, D[np.ix_(p, p)])
    assert not np.array_equal(shuffled.distances, D)  # it moved something
    assert shuffled.hierarchy.classes == assets.hierarchy.classes  # classes and their order stay
    shape = (lambda h: Counter(len(path) for path in h.paths), lambda a: Counter(a.distances.ravel().tolist()))
    assert shape[0](shuffled.hierarchy) == shape[0](assets.hierarchy) and shape[1](shuffled) == shape[1](assets)
    assert sorted(Counter(shuffled.levels[:, 1]).values()) == sorted(Counter(assets.levels[:, 1]).values())
    assert np.allclose(shuffled.frames["haframe"].S, S[np.ix_(p, p)])
    W, _ = assets.draw_frame("haframe", 9, seed=3)
    W_shuffled, S_shuffled = shuffled.draw_frame("haframe", 9, seed=3)  # checked against S' inside
    assert np.allclose(W_shuffled, W[p])
    assert shuffled.frames["etf"] is assets.frames["etf"]  # not derived from the tree
    assert abs(distance_correlation(D, shuffled.distances)) < 0.5 and distance_correlation(D, D) == pytest.approx(1)


def test_one_recorded_permutation_per_seed_shared_by_every_control():
    study = Study(with_controls())
    seeds = {
        seed: {v: study.run("synthetic", v, seed).control for v in ("haframe_shuffled", "ce_shuffled")}
        for seed in (0, 1)
    }
    assert seeds[0]["haframe_shuffled"].seed == seeds[0]["ce_shuffled"].seed != seeds[1]["ce_shuffled"].seed
    assert study.run("synthetic", "haframe", 0).control is None
    assert study.run("synthetic", "haframe_shuffled", 0).to_dict()["control"]["name"] == "shuffled_hierarchy"
    config = with_controls(protocol={"name": "tuned", "trials": 3, "repeats": 2})
    tuned = Study(config)
    per_repetition = {
        r: {tuned.run("synthetic", "haframe_shuffled", trial_seed(r, i)).control.seed for i in range(3)}
        for r in range(2)
    }
    assert all(len(seeds) == 1 for seeds in per_repetition.values()) and per_repetition[0] != per_repetition[1]


def test_a_control_of_a_method_without_the_tree_trains_byte_identically(tmp_path, assets):
    """ce and etf read nothing of the hierarchy: their control must be the same model."""
    config = with_controls(seeds=[0])
    section = config["datasets"]["synthetic"]
    _, splits = generate(SyntheticSpec.from_options(section["synthetic"]), assets.hierarchy)
    write_prepared(tmp_path / "data", list(assets.hierarchy.classes), splits, transform="none")
    study = Study(config)
    weights, metrics = {}, {}
    for variant in ("ce_II", "ce_shuffled", "etf", "etf_shuffled", "haframe", "haframe_shuffled"):
        out = tmp_path / variant
        run = dataclasses.replace(study.run("synthetic", variant, 0), posthoc=())
        files = {name: out / f"{name}.out" for name in ("checkpoint", "history", "nc", "config")}
        train_run(run, assets, data=tmp_path / "data/meta.json", resume_dir=out / "resume", log=lambda m: None, **files)
        weights[variant] = torch.load(files["checkpoint"], weights_only=True)["model"]
        metrics[variant] = evaluate_run(
            checkpoint=files["checkpoint"],
            assets=assets,
            data=tmp_path / "data/meta.json",
            metrics_file=out / "metrics.json",
            predictions_file=out / "predictions.npz",
        )
    for plain, control in (("ce_II", "ce_shuffled"), ("etf", "etf_shuffled")):
        same = [torch.equal(weights[plain][k], weights[control][k]) for k in weights[plain]]
        assert all(same) and len(same) > 4
        assert metrics[plain]["top1_error"] == metrics[control]["top1_error"]
    assert metrics["ce_shuffled"]["mistake_severity"] == metrics["ce_II"]["mistake_severity"]  # the true tree
    assert any(not torch.equal(weights["haframe"][k], weights["haframe_shuffled"][k]) for k in weights["haframe"])
    assert metrics["haframe_shuffled"]["control"]["distance_correlation"] < 0.5


def test_an_unknown_control_is_refused_naming_the_field():
    config = with_controls()
    config["variants"]["ce_shuffled"]["control"] = "shuffled_labels"
    with pytest.raises(ConfigError, match=r"^variants\.ce_shuffled\.control: expected one of shuffled_hierarchy"):
        Study(config)


def test_a_controls_auxiliary_model_learns_from_the_same_shuffled_tree():
    config = with_controls()
    config["variants"]["ce_II"]["posthoc"] = ["crm", "hie"]
    config["variants"]["ce_shuffled"]["posthoc"] = ["hie"]
    study = Study(config)
    (shuffled,) = study.auxiliary_runs_of(study.run("synthetic", "ce_shuffled", 1)).values()
    (plain,) = study.auxiliary_runs_of(study.run("synthetic", "ce_II", 1)).values()
    assert shuffled.control == study.run("synthetic", "ce_shuffled", 1).control and plain.control is None
    assert shuffled.variant == "hie_coarse_II_shuffled_hierarchy" and plain.variant == "hie_coarse_II"
