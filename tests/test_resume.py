"""A training job killed mid-epoch (a real SIGKILL) or while writing its state (fault hook)
continues from its last completed epoch when the same snakemake command runs again, and ends
with exactly the numbers of an uninterrupted run and one MLflow run."""

import csv
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO, SNAKEMAKE, mlflow_runs, run_snakemake, tiny_config, training_pids

pytestmark = pytest.mark.dag

RUN = "results/tiny/synthetic/runs/haframe/seed0"
TARGET = f"{RUN}/mlflow.json"  # the run, evaluated and imported into MLflow: what these tests check (no report)
METRICS = f"{RUN}/metrics.json"  # what an uninterrupted run is compared by


def resume_config() -> dict:
    config = tiny_config(seeds=[0])
    config["variants"] = {"haframe": config["variants"]["haframe"]}
    ds = config["datasets"]["synthetic"]
    ds["synthetic"].update(train_per_class=80)
    ds["training"].update(epochs=4, nc_every=1)
    return config


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict:
    """The metrics and neural-collapse rows of the run when nothing interrupts it."""
    workdir = tmp_path_factory.mktemp("uninterrupted")
    run_snakemake(workdir, resume_config(), METRICS)
    return outcome(workdir)


def outcome(workdir: Path) -> dict:
    with open(workdir / RUN / "nc.csv") as handle:
        nc = [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(handle)]  # all but timing
    assert [row["epoch"] for row in nc] == ["1", "2", "3", "4"]  # every row exactly once
    return {"metrics": json.loads((workdir / RUN / "metrics.json").read_text()), "nc": nc}


def mlflow_identities(workdir: Path) -> list[str]:
    _, runs = mlflow_runs(workdir)
    return [r.data.tags["haframe.identity"] for r in runs]


def test_sigkill_mid_epoch_resumes_to_identical_metrics(tmp_path, uninterrupted):
    config = resume_config()
    (tmp_path / "config.yaml").write_text(json.dumps(config))
    command = [str(SNAKEMAKE), "--snakefile", str(REPO / "workflow/Snakefile"), "--directory", str(tmp_path),
               "--configfile", str(tmp_path / "config.yaml"), "--cores", "2", TARGET]
    first = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    state = tmp_path / RUN / "resume" / "state.pt"
    deadline = time.monotonic() + 120
    while not state.exists():  # wait until one epoch is complete, then kill during the next
        assert time.monotonic() < deadline and first.poll() is None, "training never saved an epoch"
        time.sleep(0.02)
    pids = training_pids(tmp_path)
    assert pids, "no training process found"
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    output, _ = first.communicate(timeout=120)
    assert first.returncode != 0, output
    assert not (tmp_path / RUN / "metrics.json").exists()

    run_snakemake(tmp_path, config, TARGET)
    log = (tmp_path / "results/tiny/synthetic/logs/train/haframe/seed0.log").read_text()
    assert "resumed after epoch" in log
    assert outcome(tmp_path) == uninterrupted
    assert mlflow_identities(tmp_path) == ["synthetic/haframe/seed0"]


def test_kill_while_writing_the_checkpoint_resumes_to_identical_metrics(tmp_path, uninterrupted, monkeypatch):
    config = resume_config()
    monkeypatch.setenv("HAFRAME_FAULT", "kill_while_saving:2")
    first = run_snakemake(tmp_path, config, TARGET, check=False)
    assert first.returncode != 0
    monkeypatch.delenv("HAFRAME_FAULT")
    run_snakemake(tmp_path, config, TARGET)
    log = (tmp_path / "results/tiny/synthetic/logs/train/haframe/seed0.log").read_text()
    assert "resumed after epoch 1 " in log
    assert outcome(tmp_path) == uninterrupted
    assert mlflow_identities(tmp_path) == ["synthetic/haframe/seed0"]


def slow_config() -> dict:
    """Epochs of ~1.5 s, so that a job outliving Snakemake is stopped before it finishes."""
    config = resume_config()
    config["datasets"]["synthetic"]["synthetic"].update(train_per_class=400)
    return config


def test_killing_snakemake_stops_its_jobs_and_the_rerun_is_the_only_writer(tmp_path):
    """kill -9 of Snakemake itself (its training job survives it for a moment), then the
    README's recovery at once: --unlock, run again."""
    baseline = tmp_path / "uninterrupted"
    run_snakemake(baseline, slow_config(), METRICS)
    tmp_path = tmp_path / "killed"
    tmp_path.mkdir()
    config = slow_config()
    (tmp_path / "config.yaml").write_text(json.dumps(config))
    command = [str(SNAKEMAKE), "--snakefile", str(REPO / "workflow/Snakefile"), "--directory", str(tmp_path),
               "--configfile", str(tmp_path / "config.yaml"), "--cores", "2", TARGET]
    first = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = tmp_path / RUN / "resume" / "state.pt"
    deadline = time.monotonic() + 120
    while not state.exists():
        assert time.monotonic() < deadline and first.poll() is None, "training never saved an epoch"
        time.sleep(0.02)
    orphans = training_pids(tmp_path)
    assert orphans, "no training process found"
    first.kill()
    first.wait()
    assert all(Path(f"/proc/{pid}").exists() for pid in orphans)  # the job outlived Snakemake ...

    run_snakemake(tmp_path, config, "--unlock")
    run_snakemake(tmp_path, config, TARGET)
    assert not any(Path(f"/proc/{pid}").exists() for pid in orphans)  # ... but not for long
    log = (tmp_path / "results/tiny/synthetic/logs/train/haframe/seed0.log").read_text()
    assert "resumed after epoch" in log  # the orphan stopped before finishing (else: "complete; starting afresh")
    with open(tmp_path / RUN / "history.csv") as handle:
        assert [row["epoch"] for row in csv.DictReader(handle)] == ["1", "2", "3", "4"]
    assert outcome(tmp_path) == outcome(baseline)
    assert mlflow_identities(tmp_path) == ["synthetic/haframe/seed0"]
