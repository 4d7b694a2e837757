import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def tiny_config(**overrides) -> dict:
    """The demo study shrunk to seconds: 9 classes, 2 epochs, 2 seeds."""
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config["seeds"] = [0, 1]
    ds = config["datasets"]["synthetic"]
    ds["synthetic"].update(branching=[3, 3], train_per_class=24, val_per_class=6, test_per_class=10)
    ds["training"].update(epochs=2, batch_size=32)
    for key, value in overrides.items():
        config[key] = value
    return config


def run_snakemake(workdir: Path, config: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the real CLI on the repository's workflow in ``workdir`` with ``config``."""
    workdir.mkdir(parents=True, exist_ok=True)
    config_file = workdir / "config.yaml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    command = [
        str(SNAKEMAKE), "--snakefile", str(REPO / "workflow" / "Snakefile"),
        "--directory", str(workdir), "--configfile", str(config_file), "--cores", "2", *args,
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO)  # picks up profiles/default
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}")
    return result


@pytest.fixture(scope="session")
def tiny_study(tmp_path_factory) -> Path:
    """A finished tiny study (the demo DAG through the snakemake CLI)."""
    workdir = tmp_path_factory.mktemp("study")
    run_snakemake(workdir, tiny_config())
    return workdir


def random_tree_paths(seed, min_leaves=8, max_leaves=40, max_depth=5, p_leaf=0.35):
    """Root-to-leaf paths of a random tree whose leaves sit at different depths.

    Inner nodes have 2..4 children; each non-root node stops (becomes a leaf) with
    probability p_leaf. Class order is shuffled so it does not follow the tree.
    """
    rng = random.Random(seed)
    while True:
        counter = [0]
        paths = []

        def grow(path, depth):
            if depth >= 1 and (depth == max_depth or rng.random() < p_leaf):
                paths.append(path)
                return
            for _ in range(rng.randint(2, 4)):
                counter[0] += 1
                grow(path + [f"n{counter[0]}"], depth + 1)

        grow(["root"], 0)
        if min_leaves <= len(paths) <= max_leaves and len({len(p) for p in paths}) > 1:
            rng.shuffle(paths)
            return paths


def training_pids(workdir: Path) -> list[int]:
    """PIDs of the training scripts Snakemake runs for the study in ``workdir`` (to kill one)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(workdir / ".snakemake" / "scripts") in cmdline and "train.py" in cmdline:
                pids.append(int(proc.name))
    return pids
