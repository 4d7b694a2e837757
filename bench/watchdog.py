"""How long a training job outlives the Snakemake process that started it (kill -9), with
``haframe.run_lock.follow_snakemake`` stopping it: the README's bound.

A demo study shrunk to one run of long epochs is prepared once; then, ``--repeats`` times,
Snakemake starts the run, and at a random moment (uniform over 0-2 s, seeded) after the
trainer's first epoch Snakemake is killed (SIGKILL), and the time until the trainer's process is
gone is measured (polled every 10 ms): the kill lands anywhere in the watchdog's polling period.

    .venv/bin/python bench/watchdog.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
RUN = "results/watchdog/synthetic/runs/haframe/seed0"


def config() -> dict:
    study = yaml.safe_load((REPO / "config/demo.yaml").read_text())
    study.update(study="watchdog", seeds=[0], variants={"haframe": study["variants"]["haframe"]})
    section = study["datasets"]["synthetic"]
    section["synthetic"].update(branching=[3, 3], train_per_class=400, val_per_class=6, test_per_class=10)
    section["training"].update(epochs=50, nc_every=50)
    return study


def command(workdir: Path, *targets: str) -> list[str]:
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
        *targets,
    ]


def trainers(workdir: Path) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if proc.name.isdigit() and str(workdir / ".snakemake" / "scripts") in cmdline and "train.py" in cmdline:
            pids.append(int(proc.name))
    return pids


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def one_kill(workdir: Path, delay: float) -> float:
    snakemake = subprocess.Popen(
        command(workdir, f"{RUN}/checkpoint.pt"), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    state = workdir / RUN / "resume" / "state.pt"
    deadline = time.monotonic() + 300
    while not state.exists():
        if time.monotonic() > deadline or snakemake.poll() is not None:
            raise RuntimeError("training never saved an epoch")
        time.sleep(0.05)
    time.sleep(delay)
    pids = trainers(workdir)
    snakemake.kill()
    killed = time.monotonic()
    snakemake.wait()
    while any(alive(pid) for pid in pids):
        time.sleep(0.01)
    stopped = time.monotonic() - killed
    subprocess.run(command(workdir, "--unlock"), cwd=REPO, check=True, capture_output=True)
    shutil.rmtree(workdir / RUN)
    return stopped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "config.yaml").write_text(yaml.safe_dump(config()))
        prepared = ["results/watchdog/synthetic/data/meta.json", "results/watchdog/synthetic/frames/haframe.npz"]
        subprocess.run(command(workdir, *prepared), cwd=REPO, check=True, capture_output=True)
        delays = random.Random(0).uniform
        times = [one_kill(workdir, delays(0.0, 2.0)) for _ in range(args.repeats)]
    print(
        f"trainer stopped {statistics.median(times):.2f} s (median) after Snakemake's kill -9; "
        f"min {min(times):.2f} s, max {max(times):.2f} s over {len(times)} kills"
    )


if __name__ == "__main__":
    main()
