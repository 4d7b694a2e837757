"""Which saved scores a run keeps (`scores`; haframe.study.Study.kept_scores) through the snakemake
CLI: a tuned protocol's trials keep their validation scores only, the test scores go once their
chains and metrics have read them, and the finished study has nothing left to do."""

import json

import pytest
from conftest import run_snakemake, tiny_config

pytestmark = pytest.mark.dag


def test_a_trial_keeps_its_validation_scores_only_and_nothing_is_left_to_do(tmp_path):
    config = tiny_config(seeds=[0], protocol={"name": "tuned", "trials": 2, "repeats": 1})
    config["variants"] = {"ce_II": config["variants"]["ce_II"]}  # with CRM
    run_snakemake(tmp_path, config)
    runs = sorted((tmp_path / "results/tiny/synthetic/runs/ce_II").iterdir())
    assert [run.name for run in runs] == ["seed1000000", "seed1000001"]
    for run in runs:
        assert (run / "scores/val.npz").is_file() and not (run / "scores/test.npz").exists()
        metrics = json.loads((run / "metrics.json").read_text())
        assert metrics["crm"]["n_test"] == metrics["n_test"] and metrics["val"]["crm"]["n_val"] > 0
    result = run_snakemake(tmp_path, config, "--dry-run")
    assert "Nothing to be done" in result.stdout + result.stderr


def test_a_study_that_keeps_no_scores_still_scores_its_chains(tmp_path):
    config = tiny_config(seeds=[0], scores="none")
    config["variants"] = {"ce_II": config["variants"]["ce_II"]}
    run_snakemake(tmp_path, config)
    run = tmp_path / "results/tiny/synthetic/runs/ce_II/seed0"
    assert not list((run / "scores").glob("*.npz")) and (run / "posthoc/crm.json").is_file()
    assert "crm" in json.loads((run / "metrics.json").read_text())
    result = run_snakemake(tmp_path, config, "--dry-run")
    assert "Nothing to be done" in result.stdout + result.stderr
