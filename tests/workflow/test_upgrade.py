"""An upgrade as a user meets it: the tiny study finished by an earlier commit's code, then this
commit's `snakemake -n` in the same working directory: nothing trains or prepares; each run is
evaluated once more, because its scores were not kept then, and its metrics come out as before.
On the upgraded study, what must not rerun anything does not (the config re-saved with its keys
in another order, other resources, an edited rule script), and what changes a result reruns just
the jobs it changes (a new post-hoc chain: its posthoc job on the saved scores and the auxiliary
model it needs, no variant's model loaded; a new learning rate: every training).
haframe.identity, profiles/default."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import REPO, run_snakemake, tiny_study_config

from haframe.sealed import SEAL

pytestmark = pytest.mark.dag

BASE_COMMIT = "c08bdc1"  # the last commit before haframe.identity: its jobs recorded the old params
RUNS = ("ce_I/seed0", "ce_II/seed0", "haframe/seed0")
REPORT_RULES = {"report_dataset", "report_study", "import_report", "all"}


def study_config() -> dict:
    """The shared tiny study (tests/conftest.py) with one seed."""
    return {**tiny_study_config(), "seeds": [0]}


def scheduled(result: subprocess.CompletedProcess) -> dict[str, list[str]]:
    """{rule: the runs of its jobs ("variant/seedN"; "" for a job of no run)} a dry run lists."""
    jobs: dict[str, list[str]] = {}
    for rule, body in re.findall(r"^(?:local)?rule (\w+):\n((?: {4}.*\n?)*)", result.stdout, flags=re.M):
        run = re.search(r"wildcards: .*variant=(\w+), seed=(\d+)", body)
        jobs.setdefault(rule, []).append(f"{run[1]}/seed{run[2]}" if run else "")
    if not jobs:
        assert "Nothing to be done" in result.stdout + result.stderr, result.stdout[-3000:]
    return {rule: sorted(runs) for rule, runs in jobs.items()}


def dry_run(workdir: Path, config: dict, *args: str, code: Path = REPO) -> dict[str, list[str]]:
    return scheduled(run_snakemake(workdir, config, "--dry-run", *args, code=code))


@pytest.fixture(scope="module")
def finished_before(tmp_path_factory) -> Path:
    """The working directory of the study as the previous commit's code finished it."""
    if subprocess.run(["git", "-C", str(REPO), "cat-file", "-e", f"{BASE_COMMIT}^{{commit}}"]).returncode:
        pytest.skip(f"the base commit {BASE_COMMIT} is not in this clone (a shallow one?)")
    root = tmp_path_factory.mktemp("upgrade")
    base = root / "base"
    subprocess.run(["git", "clone", "--quiet", "--shared", str(REPO), str(base)], check=True)
    subprocess.run(
        ["git", "-C", str(base), "-c", "advice.detachedHead=false", "checkout", "--quiet", BASE_COMMIT], check=True
    )
    workdir = root / "study"
    run_snakemake(workdir, study_config(), code=base)
    return workdir


@pytest.fixture(scope="module")
def upgraded(finished_before, tmp_path_factory) -> Path:
    """That study brought up to date by this commit's code (a copy: only its report reruns)."""
    workdir = tmp_path_factory.mktemp("upgraded") / "study"
    shutil.copytree(finished_before, workdir, symlinks=True)
    run_snakemake(workdir, study_config())
    return workdir


def test_an_upgrade_trains_and_prepares_nothing_and_scores_each_run_once(finished_before):
    """A study evaluated before the runs' scores were kept evaluates each run once more (its
    scores did not exist), then re-reads them for its chains and metrics, re-imports and reports;
    nothing trains, prepares or builds a hierarchy or frame."""
    jobs = dry_run(finished_before, study_config())
    assert set(jobs) == REPORT_RULES | {"evaluate", "posthoc", "assemble_metrics", "import_run"}
    assert jobs["evaluate"] == jobs["assemble_metrics"] == sorted(RUNS)


def test_once_upgraded_nothing_is_left_to_do_and_the_metrics_are_those_of_before(finished_before, upgraded):
    assert dry_run(upgraded, study_config()) == {}
    for run in RUNS:
        before, after = (
            json.loads((w / f"results/tiny/synthetic/runs/{run}/metrics.json").read_text())
            for w in (finished_before, upgraded)
        )
        for key, value in before.items():  # the earlier code's metrics, from the saved scores
            assert after[key] == value, (run, key)


def resaved(value, keep: tuple[str, ...], ordered: bool = False):
    """``value`` with every mapping's keys sorted, as ``yaml.safe_dump(sort_keys=True)`` saves
    it, except the entries of the mappings named in ``keep``, which keep their order."""
    if isinstance(value, dict):
        return {key: resaved(value[key], keep, key in keep) for key in (value if ordered else sorted(value))}
    return value


def test_reordered_keys_and_other_resources_list_no_job(upgraded):
    # the order of the variants and datasets is the report's (its rows and colours): kept
    config = resaved(study_config(), keep=("variants", "datasets"))
    config["training"].update(threads=2, workers=1)
    assert dry_run(upgraded, config) == {}
    # a plain re-save also sorts the variants: only the report follows their new order
    config = yaml.safe_load(yaml.safe_dump(study_config(), sort_keys=True))
    assert list(config["variants"]) != list(study_config()["variants"])
    assert set(dry_run(upgraded, config)) == REPORT_RULES


def test_an_edited_rule_script_lists_no_job(upgraded, tmp_path):
    """A comment in every rule script, in a copy of the repository (never its own files)."""
    code = tmp_path / "haframe"
    for name in ("workflow", "scripts", "profiles", "src", "bench", "envs"):
        shutil.copytree(REPO / name, code / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for script in (code / "scripts").glob("*.py"):
        with script.open("a") as handle:
            handle.write("# a comment: the script is newer than every output\n")
    assert dry_run(upgraded, study_config(), code=code) == {}


def test_a_new_post_hoc_chain_evaluates_without_retraining(upgraded, tmp_path):
    config = study_config()
    config["variants"]["ce_II"]["posthoc"] = ["crm", "hie"]  # hie needs an auxiliary model: hie_coarse_II
    config["variants"]["haframe"]["posthoc"] = ["crm"]
    jobs = dry_run(upgraded, config)
    assert jobs["train"] == jobs["evaluate"] == ["hie_coarse_II/seed0"]  # no variant's model is loaded
    assert jobs["posthoc"] == ["ce_II/seed0", "haframe/seed0"]  # ce_II's hie, haframe's crm: from saved scores
    assert jobs["assemble_metrics"] == ["ce_II/seed0", "haframe/seed0"]
    assert not {"prepare_synthetic", "parse_hierarchy", "solve_frame"} & set(jobs)
    # run: the new chains re-rank the saved scores; afterwards nothing is left to do
    workdir = tmp_path / "study"
    shutil.copytree(upgraded, workdir, symlinks=True)
    targets = [f"results/tiny/synthetic/runs/{run}/metrics.json" for run in ("ce_II/seed0", "haframe/seed0")]
    checkpoints = {run: (workdir / f"results/tiny/synthetic/runs/{run}/checkpoint.pt").read_bytes() for run in RUNS}
    run_snakemake(workdir, config, *targets)
    for target, chains in zip(targets, (["crm", "hie"], ["crm"])):
        metrics = json.loads((workdir / target).read_text())
        assert sorted(key for key, value in metrics.items() if isinstance(value, dict) and key != SEAL) == chains
    assert all(
        (workdir / f"results/tiny/synthetic/runs/{run}/checkpoint.pt").read_bytes() == data
        for run, data in checkpoints.items()
    )
    assert dry_run(workdir, config, *targets) == {}


def test_a_new_learning_rate_retrains_every_run_and_nothing_upstream(upgraded):
    config = study_config()
    config["datasets"]["synthetic"]["training"]["lr"] = 0.05  # in the dataset's section: not the data's
    jobs = dry_run(upgraded, config)
    assert jobs["train"] == jobs["evaluate"] == sorted(RUNS)
    assert not {"prepare_synthetic", "parse_hierarchy", "solve_frame"} & set(jobs)
