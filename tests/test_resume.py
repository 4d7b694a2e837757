"""A training job killed mid-epoch (a real SIGKILL) or while writing its state (fault hook)
continues from its last completed epoch when the same snakemake command runs again, and ends
with exactly the numbers of an uninterrupted run and one MLflow run."""

import csv
import json
import os
import shutil
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
    """One run of 4 epochs of ~1.5 s each: long enough for a kill to land inside an epoch, and
    for a job that outlives Snakemake to be stopped before it finishes."""
    config = tiny_config(seeds=[0])
    config["variants"] = {"haframe": config["variants"]["haframe"]}
    ds = config["datasets"]["synthetic"]
    ds["synthetic"].update(train_per_class=400)
    ds["training"].update(epochs=4, nc_every=1)
    return config


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    """The study of the run when nothing interrupts it, evaluated (no MLflow import)."""
    workdir = tmp_path_factory.mktemp("uninterrupted")
    run_snakemake(workdir, resume_config(), METRICS)
    return workdir


def before_the_run(uninterrupted: Path, workdir: Path) -> Path:
    """A copy of the uninterrupted study without its run: its data, hierarchy and frame are
    done (and up to date for Snakemake), so the test's jobs are the run's own."""
    shutil.copytree(uninterrupted, workdir, symlinks=True)
    shutil.rmtree(workdir / RUN)
    for stage in ("train", "evaluate"):
        shutil.rmtree(workdir / f"results/tiny/synthetic/logs/{stage}")
    (workdir / "config.yaml").write_text(json.dumps(resume_config()))
    return workdir


def outcome(workdir: Path) -> dict:
    with open(workdir / RUN / "nc.csv") as handle:
        nc = [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(handle)]  # all but timing
    assert [row["epoch"] for row in nc] == ["1", "2", "3", "4"]  # every row exactly once
    return {"metrics": json.loads((workdir / RUN / "metrics.json").read_text()), "nc": nc}


def mlflow_identities(workdir: Path) -> list[str]:
    _, runs = mlflow_runs(workdir)
    return [r.data.tags["haframe.identity"] for r in runs]


def snakemake_command(workdir: Path) -> list[str]:
    return [
        str(SNAKEMAKE),
        "--snakefile",
        str(REPO / "workflow/Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(workdir / "config.yaml"),
        "--cores",
        "2",
        TARGET,
    ]


def wait_for_a_saved_epoch(workdir: Path, snakemake: subprocess.Popen) -> None:
    state = workdir / RUN / "resume" / "state.pt"
    deadline = time.monotonic() + 120
    while not state.exists():
        assert time.monotonic() < deadline and snakemake.poll() is None, "training never saved an epoch"
        time.sleep(0.02)


def test_sigkill_mid_epoch_resumes_to_identical_metrics(tmp_path, uninterrupted):
    workdir = before_the_run(uninterrupted, tmp_path / "killed")
    first = subprocess.Popen(
        snakemake_command(workdir), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    wait_for_a_saved_epoch(workdir, first)  # then kill during the next epoch
    pids = training_pids(workdir)
    assert pids, "no training process found"
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    output, _ = first.communicate(timeout=120)
    assert first.returncode != 0, output
    assert not (workdir / METRICS).exists()

    run_snakemake(workdir, resume_config(), TARGET)
    log = (workdir / "results/tiny/synthetic/logs/train/haframe/seed0.log").read_text()
    assert "resumed after epoch" in log
    assert outcome(workdir) == outcome(uninterrupted)
    assert mlflow_identities(workdir) == ["synthetic/haframe/seed0"]


def test_kill_while_writing_the_checkpoint_resumes_to_identical_metrics(tmp_path, uninterrupted, monkeypatch):
    workdir = before_the_run(uninterrupted, tmp_path / "killed")
    monkeypatch.setenv("HAFRAME_FAULT", "kill_while_saving:2")
    first = run_snakemake(workdir, resume_config(), TARGET, check=False)
    assert first.returncode != 0
    monkeypatch.delenv("HAFRAME_FAULT")
    run_snakemake(workdir, resume_config(), TARGET)
    log = (workdir / "results/tiny/synthetic/logs/train/haframe/seed0.log").read_text()
    assert "resumed after epoch 1 " in log
    assert outcome(workdir) == outcome(uninterrupted)
    assert mlflow_identities(workdir) == ["synthetic/haframe/seed0"]


def test_killing_snakemake_stops_its_jobs_and_the_rerun_is_the_only_writer(tmp_path, uninterrupted):
    """kill -9 of Snakemake itself (its training job survives it for a moment), then the
    README's recovery at once: --unlock, run again."""
    workdir = before_the_run(uninterrupted, tmp_path / "killed")
    first = subprocess.Popen(snakemake_command(workdir), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_a_saved_epoch(workdir, first)
    orphans = training_pids(workdir)
    assert orphans, "no training process found"
    first.kill()
    first.wait()
    assert all(Path(f"/proc/{pid}").exists() for pid in orphans)  # the job outlived Snakemake ...

    run_snakemake(workdir, resume_config(), "--unlock")
    run_snakemake(workdir, resume_config(), TARGET)
    assert not any(Path(f"/proc/{pid}").exists() for pid in orphans)  # ... but not for long
    log = (workdir / "results/tiny/synthetic/logs/train/haframe/seed0.log").read_text()
    assert "resumed after epoch" in log  # the orphan stopped before finishing (else: "complete; starting afresh")
    with open(workdir / RUN / "history.csv") as handle:
        assert [row["epoch"] for row in csv.DictReader(handle)] == ["1", "2", "3", "4"]
    assert outcome(workdir) == outcome(uninterrupted)
    assert mlflow_identities(workdir) == ["synthetic/haframe/seed0"]


def flip_bytes(path: Path, count: int = 4) -> None:
    """Flip ``count`` bytes in the middle of the file (tensor data), its size and mtime kept."""
    stat = path.stat()
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + count] = bytes(b ^ 0xFF for b in data[middle : middle + count])
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_a_corrupt_resume_state_is_moved_aside_and_the_run_starts_afresh(tmp_path, uninterrupted, monkeypatch):
    """Issue 25, item 9: a truncated resume state names itself, is kept aside, fails nothing."""
    workdir = before_the_run(uninterrupted, tmp_path / "truncated")
    monkeypatch.setenv("HAFRAME_FAULT", "kill_while_saving:3")  # leaves the state of epoch 2
    assert run_snakemake(workdir, resume_config(), TARGET, check=False).returncode != 0
    monkeypatch.delenv("HAFRAME_FAULT")
    state = workdir / RUN / "resume" / "state.pt"
    state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])
    run_snakemake(workdir, resume_config(), TARGET)
    log = (workdir / "results/tiny/synthetic/logs/train/haframe/seed0.log").read_text()
    assert f"resume state unusable ({RUN}/resume/state.pt: not a complete torch file" in log
    assert "starting afresh" in log
    assert len(list(state.parent.glob("state.pt.corrupt-*"))) == 1
    assert not (workdir / RUN / "failed.json").exists()
    assert outcome(workdir) == outcome(uninterrupted)


def test_a_corrupt_checkpoint_is_named_moved_aside_and_the_run_trains_again(tmp_path, uninterrupted):
    """Issue 25, item 3: 4 flipped bytes (size and mtime kept) no longer give a result."""
    workdir = tmp_path / "flipped"
    shutil.copytree(uninterrupted, workdir, symlinks=True)
    (workdir / "config.yaml").write_text(json.dumps(resume_config()))
    checkpoint = workdir / RUN / "checkpoint.pt"
    flip_bytes(checkpoint)
    forced = run_snakemake(workdir, resume_config(), METRICS, "--forcerun", "evaluate", check=False)
    assert forced.returncode != 0
    log = (workdir / "results/tiny/synthetic/logs/evaluate/haframe/seed0.log").read_text()
    assert f"{RUN}/checkpoint.pt: member " in log and "fails its CRC-32 check" in log
    assert "moved aside to checkpoint.pt.corrupt-" in log
    assert not checkpoint.exists() and len(list(checkpoint.parent.glob("checkpoint.pt.corrupt-*"))) == 1
    assert not (workdir / RUN / "failed.json").exists()  # a damaged file is not the run's failure
    train_log = workdir / "results/tiny/synthetic/logs/train/haframe/seed0.log"
    train_log.unlink()
    run_snakemake(workdir, resume_config(), METRICS, "--forcerun", "evaluate")  # the same command retrains it
    assert "done: best validation top-1 error" in train_log.read_text()
    assert outcome(workdir) == outcome(uninterrupted)
