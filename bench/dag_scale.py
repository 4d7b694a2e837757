"""How the dry run scales with the study's size, and the project's share of it.

For tuned studies of about 1k, 5k and 15k jobs (the demo's synthetic dataset under five names,
four variants, 3 repetitions of as many trials as it takes), one ``snakemake -n`` each under
cProfile in its own process: the wall time, and the time spent in the project's own code
(``haframe`` and the workflow's rule files: the study's compilation, the rules' lookups into its
table, the dry-run summary) against the rest (Python's start, the imports, Snakemake's DAG,
files and scheduling). Each runs in a temporary directory; prints a Markdown table.

    .venv/bin/python bench/dag_scale.py [--jobs 1000 5000 15000]
"""

from __future__ import annotations

import argparse
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
VARIANTS = {
    "ce_II": {"method": "ce", "head": "II", "posthoc": ["crm"]},
    "haframe": {"method": "haframe", "head": "II", "alpha": 0.4},
    "haframe_fixed": {"method": "haframe", "head": "II", "alpha": 0.0, "fixed": ["alpha"]},
    "etf_fixed": {"method": "etf", "head": "II"},
}
DATASETS = 5
REPEATS = 3
JOBS_PER_RUN = 3  # train, evaluate, import_run


def study(jobs: int) -> dict:
    """The demo study under the tuned protocol (3 repetitions) spread over DATASETS copies of
    its dataset, with trials enough for ``jobs``."""
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    trials = max(1, round(jobs / (JOBS_PER_RUN * len(VARIANTS) * DATASETS * REPEATS)))
    config.update(study="scale", variants=VARIANTS, protocol={"name": "tuned", "trials": trials, "repeats": REPEATS})
    dataset = config["datasets"]["synthetic"]
    config["datasets"] = {f"synthetic_{i}": dataset for i in range(DATASETS)}
    return config


def project_seconds(stats: pstats.Stats) -> float:
    """Time inside the project's code, what it calls included (its imports, YAML, numpy) but
    not Snakemake's own work that the Snakefile calls (rule definitions, includes): the
    cumulative time of the calls into project functions from outside the project, less that of
    the calls from project functions into Snakemake (project code that Snakemake runs inside
    such a call, an included rule file, counts again as a call into the project)."""

    def own(function: tuple) -> bool:
        return any(part in function[0] for part in ("/src/haframe/", "/workflow/"))

    def snakemake(function: tuple) -> bool:
        return "/site-packages/snakemake/" in function[0]

    edges = [
        (caller, function, timing[3])
        for function, (*_, callers) in stats.stats.items()
        for caller, timing in callers.items()
    ]
    into = sum(seconds for caller, function, seconds in edges if own(function) and not own(caller))
    out = sum(seconds for caller, function, seconds in edges if snakemake(function) and own(caller))
    return into - out


def dry_run(config: dict, workdir: Path) -> tuple[int, float, float]:
    """(jobs planned, wall seconds, seconds in the project's code) of one `snakemake -n`, run
    under cProfile in its own process (as a user runs it: imports and Snakefile included)."""
    config_file = workdir / "config.yaml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    profile = workdir / "dry_run.prof"
    command = [
        sys.executable,
        "-m",
        "cProfile",
        "-o",
        str(profile),
        str(Path(sys.executable).with_name("snakemake")),
        "-n",
        "--quiet",
        "rules",
        "--snakefile",
        str(REPO / "workflow" / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(config_file),
        "--cores",
        "2",
    ]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"snakemake -n failed ({result.returncode}):\n{result.stderr[-3000:]}")
    totals = [line.split()[-1] for line in result.stdout.splitlines() if line.strip().startswith("total")]
    return int(totals[0]), wall, project_seconds(pstats.Stats(str(profile)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[1000, 5000, 15000])
    args = parser.parse_args()
    rows = []
    for jobs in args.jobs:
        with tempfile.TemporaryDirectory() as tmp:
            planned, wall, project = dry_run(study(jobs), Path(tmp))
        rows.append(f"| {planned:,} | {wall:.1f} | {project:.1f} | {100 * project / wall:.0f} % |")
        print(rows[-1], file=sys.stderr, flush=True)
    print("| jobs planned | dry run (s, profiled) | in the project's code (s) | project's share |")
    print("|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
