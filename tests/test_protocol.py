"""The tuned protocol (haframe.protocol, Study under it): the same number of trials for every
variant, draws that depend only on their own key, trial seeds apart from the published ones,
and refusals that name the field."""

import copy
import json
import re
import subprocess
import sys
from collections import Counter

import pytest
import yaml
from conftest import REPO

from haframe.protocol import FIRST_TRIAL_SEED, trial_of, trial_seed
from haframe.runs import ConfigError
from haframe.study import Study, load_config

TUNED_DEMO = yaml.safe_load((REPO / "config" / "tuned_demo.yaml").read_text())


def tuned(**protocol) -> dict:
    config = copy.deepcopy(TUNED_DEMO)
    config["protocol"].update(protocol)
    return load_config(config, "tuned_demo.yaml")


def drawn_values(study: Study) -> dict[tuple, dict]:
    """{(dataset, variant, trial): drawn values} over every run of the study (repetitions agree)."""
    out: dict[tuple, dict] = {}
    for dataset in study.datasets:
        for run in study.runs(dataset):
            key = (dataset, run.variant, run.trial.index)
            assert out.setdefault(key, dict(run.trial.drawn)) == dict(run.trial.drawn)  # same in every repetition
    return out


def test_every_variant_gets_the_same_trials_with_their_own_seeds():
    study = Study(tuned())
    runs = study.runs("synthetic")
    per_variant = {v: sorted(r.seed for r in runs if r.variant == v) for v in study.variants("synthetic")}
    assert len(runs) == len(TUNED_DEMO["variants"]) * 6 * 3 and len(set(map(tuple, per_variant.values()))) == 1
    assert min(per_variant["ce_II"]) >= FIRST_TRIAL_SEED  # never a published run's start
    assert {trial_of(seed) for seed in per_variant["ce_II"]} == {(r, i) for r in range(3) for i in range(6)}
    assert trial_seed(2, 3) == 1_002_003


def test_a_trial_shares_its_recipe_draw_across_variants_and_draws_each_method_parameter():
    study = Study(tuned())
    trial = {run.variant: run for run in study.runs("synthetic") if run.seed == trial_seed(1, 4)}
    assert len({(run.training.lr, run.training.weight_decay) for run in trial.values()}) == 1
    assert set(trial["haframe"].trial.drawn) == {"alpha", "training.lr", "training.weight_decay"}
    assert trial["haframe"].params["alpha"] == trial["haframe"].trial.drawn["alpha"]
    assert set(trial["ce_II"].trial.drawn) == {"training.lr", "training.weight_decay"}
    lrs = {run.training.lr for run in study.runs("synthetic") if run.variant == "ce_II"}
    assert len(lrs) == 6 and all(1e-3 <= lr <= 0.5 for lr in lrs)  # one per trial, inside the declared space


def test_adding_or_removing_a_variant_dataset_trial_or_repetition_changes_no_shared_draw():
    base = drawn_values(Study(tuned()))
    more = tuned(trials=9, repeats=5)
    more["variants"]["flamingo_II"] = {"method": "flamingo", "head": "II"}
    second = copy.deepcopy(more["datasets"]["synthetic"])
    more["datasets"] = {"other": second, **more["datasets"]}  # a dataset before it, too
    grown = drawn_values(Study(more))
    assert all(grown[key] == values for key, values in base.items())
    fewer = tuned(trials=2, repeats=1)
    del fewer["variants"]["soft_labels"]
    shrunk = drawn_values(Study(fewer))
    assert shrunk and all(base[key] == values for key, values in shrunk.items())
    assert grown[("other", "haframe", 0)] != grown[("synthetic", "haframe", 0)]  # a dataset draws its own


def test_the_protocol_seed_moves_every_draw_and_a_fixed_value_is_not_drawn():
    base = drawn_values(Study(tuned()))
    assert all(values != base[key] for key, values in drawn_values(Study(tuned(seed=1))).items())
    config = tuned()
    config["variants"]["haframe"] = {"method": "haframe", "head": "II", "alpha": 0.0, "fixed": ["alpha"]}
    runs = [r for r in Study(config).runs("synthetic") if r.variant == "haframe"]
    assert {r.params["alpha"] for r in runs} == {0.0} and all("alpha" not in r.trial.drawn for r in runs)


def test_a_published_run_has_no_trial_and_records_as_before():
    config = load_config(yaml.safe_load((REPO / "config" / "demo.yaml").read_text()), "demo.yaml")
    run = Study(config).run("synthetic", "haframe", 0)
    assert run.trial is None and "trial" not in run.to_dict() and Study(config).protocol.name == "published"


@pytest.mark.parametrize(
    ("protocol", "field"),
    [
        ({"trials": 0}, "protocol.trials"),
        ({"selection": "test_top1"}, "protocol.selection"),
        ({"selection": "val_severity_within"}, "protocol.tolerance"),
        ({"tolerance": 1.0}, "protocol.tolerance"),
        ({"recipe": ["epochs"]}, "protocol.recipe[0]"),
    ],
)
def test_a_wrong_protocol_is_refused_naming_its_field(protocol, field):
    with pytest.raises(ConfigError, match="^" + re.escape(field)):
        Study(tuned(**protocol))


def test_fixing_what_the_protocol_does_not_draw_is_refused():
    config = tuned()
    config["variants"]["ce_II"]["fixed"] = ["alpha"]
    with pytest.raises(ConfigError, match=r"variants\.ce_II\.fixed\[0\]: 'alpha' is not drawn"):
        Study(config)


def printed_trials(config_file) -> dict[tuple, dict]:
    """{(variant, seed): drawn values} of the train jobs `python -m haframe.study jobs` prints."""
    printed = subprocess.run(
        [sys.executable, "-m", "haframe.study", "jobs", "--configfile", str(config_file)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    jobs = [json.loads(line) for line in printed.splitlines()]
    return {(j["variant"], j["seed"]): j["params"]["run"]["trial"]["drawn"] for j in jobs if j["rule"] == "train"}


def test_the_printed_job_table_gives_every_method_its_trials_and_a_new_method_moves_none(tmp_path):
    trials = printed_trials(REPO / "config" / "tuned_demo.yaml")
    per_variant = Counter(variant for variant, _ in trials)
    assert set(per_variant) == set(TUNED_DEMO["variants"]) and set(per_variant.values()) == {6 * 3}
    config = copy.deepcopy(TUNED_DEMO)
    config["variants"]["flamingo_II"] = {"method": "flamingo", "head": "II"}
    (tmp_path / "more.yaml").write_text(yaml.safe_dump(config))
    grown = printed_trials(tmp_path / "more.yaml")
    assert {key: grown[key] for key in trials} == trials and len(grown) == len(trials) + 18


def test_the_paper_study_under_the_tuned_protocol_prints_its_cost():
    printed = subprocess.run(
        [
            sys.executable,
            "-m",
            "haframe.summary",
            str(REPO / "config/config.yaml"),
            str(REPO / "config/paper_tuned.yaml"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Study 'paper_tuned'" in printed and "Protocol tuned: 20 trials x 3 repetitions" in printed
    assert "tuning's share of the study: 95% of the trial runs" in printed and "GPU-hours)" in printed
