"""A run that fails is recorded and reported, the rest of the study finishes, and the report is
built from what did: here a variant whose loss diverges (a deliberate learning rate of 1e30)."""

import json

import pytest

from conftest import mlflow_runs, run_snakemake, tiny_config

pytestmark = pytest.mark.dag


def diverging_config() -> dict:
    config = tiny_config(seeds=[0])
    config["variants"]["diverges"] = {"method": "ce", "head": "II", "training": {"lr": 1.0e30}}
    return config


@pytest.fixture(scope="module")
def failed_study(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("failed")
    first = run_snakemake(workdir, diverging_config(), check=False)
    second = run_snakemake(workdir, diverging_config(), check=False)
    return workdir, first, second


def test_the_diverged_run_fails_with_its_reason_and_the_others_finish(failed_study):
    workdir, first, _ = failed_study
    assert first.returncode != 0
    runs = workdir / "results/tiny/synthetic/runs"
    record = json.loads((runs / "diverges/seed0/failed.json").read_text())
    assert record["stage"] == "train" and record["error"].startswith("TrainingDiverged: synthetic/diverges/seed0: the loss diverged")
    assert not (runs / "diverges/seed0/checkpoint.pt").exists()
    for variant in ("ce_II", "haframe"):
        assert (runs / variant / "seed0/metrics.json").is_file()


def test_the_next_invocation_leaves_it_out_and_reports_it(failed_study):
    workdir, _, second = failed_study
    assert second.returncode == 0, second.stderr[-3000:]
    assert "1 run(s) failed before and are left out" in second.stderr
    report = workdir / "results/tiny/report/tables"
    summary = (report / "summary.md").read_text()
    assert "- synthetic/diverges/seed0: failed in train: TrainingDiverged: synthetic/diverges/seed0: the loss diverged" in summary
    table = (report / "synthetic.md").read_text()
    assert "| diverges |" not in table and "failed in train: synthetic/diverges/seed0" in table
    assert "<li>synthetic/diverges/seed0: failed in train" in (report / "summary.html").read_text()
    _, runs = mlflow_runs(workdir)
    assert sorted(r.data.tags["haframe.identity"] for r in runs) == ["synthetic/ce_II/seed0", "synthetic/haframe/seed0"]


def test_a_failed_run_is_retried_only_when_asked_for(failed_study):
    workdir, _, _ = failed_study
    again = run_snakemake(workdir, diverging_config(), "--dry-run")
    assert "Nothing to be done" in again.stdout + again.stderr
    asked = run_snakemake(workdir, diverging_config(), "results/tiny/synthetic/runs/diverges/seed0/metrics.json", "--dry-run")
    assert "wildcards: dataset=synthetic, variant=diverges, seed=0" in asked.stdout
