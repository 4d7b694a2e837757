"""The compiled study (haframe.jobs): what a user reads before spending GPU-hours is exactly
what the workflow schedules, and which variant runs where is explicit."""

import json
import re
import subprocess
import sys

import pytest
import yaml
from conftest import REPO, SNAKEMAKE, run_snakemake, tiny_config

from haframe.runs import ConfigError
from haframe.study import Study, load_config

PAPER = REPO / "config" / "config.yaml"


def paper_config() -> dict:
    return yaml.safe_load(PAPER.read_text())


def table_of(config: dict) -> list[dict]:
    """The table as `python -m haframe.study jobs` prints it, one dict per job."""
    table = Study(load_config(config, "paper.yaml")).compile(failed={})
    return [json.loads(line) for line in table.json_lines().splitlines()]


def job_names(jobs: list[dict]) -> set[tuple]:
    """(rule, wildcards) of each job, as a dry run names them."""
    return {
        (
            job["rule"],
            tuple(
                sorted(
                    (key, str(job[key])) for key in ("dataset", "variant", "seed", "chain", "filename") if key in job
                )
            ),
        )
        for job in jobs
    }


def dry_run_jobs(output: str) -> set[tuple]:
    """(rule, wildcards) of every job a `snakemake -n` plan lists (the target rule left out)."""
    jobs, rule = set(), None
    for line in output.splitlines():
        match = re.match(r"^(?:local)?rule (\w+):$", line)
        if match:
            if rule:
                jobs.add((rule, ()))
            rule = match.group(1)
        elif rule and (match := re.match(r"^\s+wildcards: (.*)$", line)):
            jobs.add((rule, tuple(sorted(tuple(pair.split("=", 1)) for pair in match.group(1).split(", ")))))
            rule = None
        elif rule and not line.strip():
            jobs.add((rule, ()))
            rule = None
    jobs.discard(("all", ()))
    return jobs


@pytest.mark.dag
def test_the_paper_tables_jobs_are_the_dry_runs_and_a_new_variant_runs_everywhere(tmp_path):
    """The paper study plus `my_ce` under top-level `variants:`: the CLI's table lists exactly the
    jobs of a fresh dry run, and my_ce trains on every available paper dataset."""
    config = paper_config()
    config["variants"]["my_ce"] = {"method": "ce", "head": "II"}
    config_file = tmp_path / "paper.yaml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    printed = subprocess.run(
        [sys.executable, "-m", "haframe.study", "jobs", "--configfile", str(config_file)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout
    table = [json.loads(line) for line in printed.splitlines()]
    dry = subprocess.run(
        [
            str(SNAKEMAKE),
            "-n",
            "--snakefile",
            str(REPO / "workflow" / "Snakefile"),
            "--directory",
            str(tmp_path),
            "--configfile",
            str(config_file),
            "--cores",
            "2",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    assert job_names(table) == dry_run_jobs(dry.stdout)
    trained = {(job["dataset"], job["seed"]) for job in table if job["rule"] == "train" and job["variant"] == "my_ce"}
    assert trained == {
        (d, s) for d in ("cifar100", "fgvc_aircraft", "inat19") for s in range(5)
    }  # tiered: no ImageNet set


def test_each_train_job_gets_its_resolved_run_and_every_output_is_in_the_table():
    config = paper_config()
    study = Study(load_config(config, "paper.yaml"))
    table = study.compile(failed={})
    train = {
        (job.wildcards["dataset"], job.wildcards["variant"], int(job.wildcards["seed"])): job
        for job in table.of("train")
    }
    # 3 available datasets: 15 variants x 5 seeds each, ce_I_wide on iNat19, a coarse model per (dataset, seed, head)
    assert len(train) == 3 * 15 * 5 + 1 + 3 * 5 * 2
    for (dataset, variant, seed), job in train.items():
        assert job.params["run"] == study.run(dataset, variant, seed).to_dict()
    produced = {output for job in table.jobs for output in job.outputs}
    assert set(table.targets) <= produced


def test_precedence_is_global_then_dataset_then_variant_then_override():
    config = tiny_config()
    config["training"]["lr"] = 0.1
    config["datasets"]["synthetic"]["training"]["momentum"] = 0.8
    config["variants"]["haframe"]["training"] = {"lr": 0.4, "weight_decay": 0.01}
    config["datasets"]["synthetic"]["overrides"] = {"haframe": {"alpha": 0.7, "training": {"lr": 0.6}}}
    study = Study(load_config(config, "tiny.yaml"))
    run = study.run("synthetic", "haframe", 0)
    assert (run.training.lr, run.training.momentum, run.training.weight_decay, run.params["alpha"]) == (
        0.6,
        0.8,
        0.01,
        0.7,
    )
    assert study.where_set("synthetic", "haframe", "training.lr") == "datasets.synthetic.overrides.haframe.training.lr"
    assert study.where_set("synthetic", "haframe", "training.weight_decay") == "variants.haframe.training.weight_decay"
    assert study.where_set("synthetic", "haframe", "training.momentum") == "datasets.synthetic.training.momentum"
    assert study.where_set("synthetic", "ce_II", "training.lr") == "training.lr"


def test_a_variant_runs_where_it_is_listed_and_a_dataset_list_selects():
    config = paper_config()
    config["variants"]["only_fgvc"] = {"method": "ce", "head": "II", "datasets": ["fgvc_aircraft"]}
    config["datasets"]["cifar100"]["variants"] = ["ce_I", "haframe"]
    del (
        config["datasets"]["cifar100"]["overrides"]["hafeature_I"],
        config["datasets"]["cifar100"]["overrides"]["hafeature_II"],
    )
    del config["datasets"]["cifar100"]["overrides"]["hiercos"]
    study = Study(load_config(config, "paper.yaml"))
    assert study.variants("cifar100") == ["ce_I", "haframe"]
    assert "only_fgvc" in study.variants("fgvc_aircraft") and "only_fgvc" not in study.variants("inat19")
    assert "ce_I_wide" in study.variants("inat19") and "ce_I_wide" not in study.variants("fgvc_aircraft")


@pytest.mark.parametrize(
    "mutate, message",
    [
        (
            lambda c: c["variants"].update(lonely={"method": "ce", "head": "II", "datasets": ["nowhere"]}),
            "variants.lonely.datasets: 'nowhere' is not a dataset",
        ),
        (
            lambda c: (
                c["variants"].update(lonely={"method": "ce", "head": "II"}),
                c["datasets"]["synthetic"].update(variants=["ce_II", "haframe"]),
            ),
            "variants.lonely: runs on no dataset",
        ),
        (
            lambda c: c["datasets"]["synthetic"].update(variants={"haframe": {"alpha": 0.5}}),
            "datasets.synthetic.variants: a mapping (selection and overrides in one) is the old form; move each "
            "variant's values to "
            "datasets.synthetic.overrides.<variant>",
        ),
        (
            lambda c: c["datasets"]["synthetic"].update(variants=["ce_II"], overrides={"haframe": {"alpha": 0.5}}),
            "datasets.synthetic.overrides.haframe: 'haframe' does not run on 'synthetic'",
        ),
        (
            lambda c: c["datasets"]["synthetic"].update(variants=["ce_II", "haframe", "typo"]),
            "datasets.synthetic.variants: 'typo' is not a variant",
        ),
    ],
    ids=["unknown-dataset", "selected-nowhere", "old-mapping", "override-not-run", "unknown-variant"],
)
def test_selection_mistakes_are_refused_naming_the_variant(mutate, message):
    config = tiny_config()
    mutate(config)
    with pytest.raises(ConfigError) as error:
        Study(load_config(config, "tiny.yaml"))
    assert message in str(error.value)


@pytest.mark.dag
def test_a_variant_selected_nowhere_stops_the_dag_build(tmp_path):
    config = tiny_config()
    config["variants"]["lonely"] = {"method": "ce", "head": "II"}
    config["datasets"]["synthetic"]["variants"] = ["ce_II", "haframe"]
    result = run_snakemake(tmp_path, config, "-n", check=False)
    assert result.returncode != 0
    assert "variants.lonely: runs on no dataset" in result.stdout + result.stderr


def test_compiling_the_study_imports_no_torch():
    """What a Snakemake launch runs before any job (the Snakefile's imports, the compiled table,
    the dry-run summary) imports no torch: about 2 s of every launch, cluster jobs included."""
    code = f"""
import sys, yaml
from haframe.data.prepared import DataError
from haframe.jobs import kept_params
from haframe.study import Study, load_config
from haframe.summary import study_summary
study = Study(load_config(yaml.safe_load(open({str(PAPER)!r})), "paper.yaml"))
table = study.compile()
study_summary(study, dict(table.left_out), {{}}, {str(REPO / "bench" / "throughput.csv")!r}, [])
print(sorted(name for name in sys.modules if name == "torch" or name.startswith("torch.")))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
