"""The demo DAG end to end through the snakemake CLI (a shrunk demo config): every stage, MLflow
(also through a tracking server), the report, resumption, a failed run and refusals. The tests of
the shared tiny study live in this one file, so that `make test` (pytest-xdist, a file per
worker) builds it once."""

import csv
import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO, mlflow_runs, mlflow_server, run_snakemake, tiny_config, tiny_study_config
from conftest import TINY_STUDY_VARIANTS as VARIANTS

from haframe.report import tables
from haframe.run_status import recorded_failure
from haframe.runs import ConfigError
from haframe.study import Study, schema_errors

pytestmark = pytest.mark.dag
SEEDS = (0, 1)


def metrics_of(workdir: Path, variant: str, seed: int) -> dict:
    return json.loads((workdir / f"results/tiny/synthetic/runs/{variant}/seed{seed}/metrics.json").read_text())


def test_every_stage_leaves_its_files(tiny_study):
    results = tiny_study / "results" / "tiny"
    for name in (
        "hierarchy/summary.json",
        "hierarchy/distances.npy",
        "hierarchy/distance_histogram.png",
        "frames/haframe.npz",
        "frames/cosines.png",
        "data/test.npz",
    ):
        assert (results / "synthetic" / name).is_file(), name
    chains = {name: spec.get("posthoc") or [] for name, spec in tiny_study_config()["variants"].items()}
    for variant in VARIANTS:
        for seed in SEEDS:
            run = results / f"synthetic/runs/{variant}/seed{seed}"
            for name in (
                "config.yaml",
                "history.csv",
                "nc.csv",
                "scores/val.npz",
                "scores/test.npz",
                "metrics.json",
                "predictions.npz",
                "checkpoint.pt",
                "mlflow.json",
                *(f"posthoc/{chain}.{suffix}" for chain in chains[variant] for suffix in ("json", "npz")),
            ):
                assert (run / name).is_file(), run / name
            assert (run / "resume" / "state.pt").is_file()
    for suffix in ("md", "tex", "csv"):
        assert (results / f"report/tables/synthetic.{suffix}").is_file()
    assert (results / "report/figures/synthetic_error_vs_severity.png").stat().st_size > 1000


def test_metrics_files_score_every_test_image(tiny_study):
    summary = json.loads((tiny_study / "results/tiny/synthetic/hierarchy/summary.json").read_text())
    assert summary["num_classes"] == 9 and summary["height"] == 2
    for variant in VARIANTS:
        for seed in SEEDS:
            m = metrics_of(tiny_study, variant, seed)
            assert m["n_test"] == 9 * 10
            assert 0.0 <= m["top1_error"] <= 100.0
            assert "ahd@5" in m and "ahd@20" not in m  # K = 9 < 20
            assert ("crm" in m) == variant.startswith("ce_")
            assert m["data_path"] == "arrays in memory, augmented on the device"
            predictions = np.load(tiny_study / f"results/tiny/synthetic/runs/{variant}/seed{seed}/predictions.npz")
            assert predictions["ranked"].shape == (90, 9)
            top1 = 100.0 * np.mean(predictions["ranked"][:, 0] != predictions["targets"])
            assert top1 == pytest.approx(m["top1_error"])


def test_every_run_has_its_neural_collapse_rows(tiny_study):
    for variant in VARIANTS:
        for seed in SEEDS:
            with open(tiny_study / f"results/tiny/synthetic/runs/{variant}/seed{seed}/nc.csv") as handle:
                rows = list(csv.DictReader(handle))
            assert [int(r["epoch"]) for r in rows] == [1, 2]  # nc_every 1, 2 epochs
            for row in rows:
                assert float(row["nc1"]) > 0 and 0 <= float(row["train_top1_error"]) <= 100
                assert 0 <= float(row["raw_haframe_dev_mean"]) <= 2 and float(row["self_duality_raw"]) >= 0


def test_table_equals_an_independent_recomputation(tiny_study):
    with open(tiny_study / "results/tiny/report/tables/synthetic.csv") as handle:
        rows = {row["variant"]: row for row in csv.DictReader(handle)}
    assert list(rows) == ["ce_I", "ce_I+crm", "ce_II", "ce_II+crm", "haframe"]
    for name, row in rows.items():
        variant, crm = name.removesuffix("+crm"), name.endswith("+crm")
        for metric in ("top1_error", "ahd@1", "ahd@5"):
            values = []
            for seed in SEEDS:
                m = metrics_of(tiny_study, variant, seed)
                values.append((m["crm"] if crm else m)[metric])
            mean = sum(values) / len(values)
            assert float(row[f"{metric}_mean"]) == pytest.approx(mean, abs=1e-12)
            assert row[f"{metric}_ci95"] == ""  # 2 seeds: below the small-sample rule's 3, no CI
            if metric in ("top1_error", "ahd@1"):  # primary: no test either
                assert row[f"{metric}_diff"] == row[f"{metric}_p_holm"] == ""
    assert (rows["haframe"]["baseline"], rows["haframe"]["test"]) == ("ce_II", "welch")
    assert (rows["ce_II+crm"]["baseline"], rows["ce_II+crm"]["test"]) == ("ce_II", "paired")
    markdown = (tiny_study / "results/tiny/report/tables/synthetic.md").read_text()
    mean = float(rows["haframe"]["top1_error_mean"])
    assert f"| haframe | 2 | {mean:.2f} (n = 2) " in markdown


def test_mlflow_holds_one_run_per_variant_and_seed_with_its_history(tiny_study):
    client, runs = mlflow_runs(tiny_study)
    identities = sorted(r.data.tags["haframe.identity"] for r in runs)
    assert identities == sorted(f"synthetic/{v}/seed{s}" for v in VARIANTS for s in SEEDS)
    for run in runs:
        history = client.get_metric_history(run.info.run_id, "val_top1_error")
        assert sorted(point.step for point in history) == [1, 2]
        collapse = client.get_metric_history(run.info.run_id, "nc_nc1")
        assert sorted(point.step for point in collapse) == [1, 2]
        m = metrics_of(tiny_study, run.data.tags["variant"], int(run.data.tags["seed"]))
        assert run.data.metrics["test_top1_error"] == pytest.approx(m["top1_error"])
        assert run.data.params["training.epochs"] == "2"
        assert run.data.tags["git_commit"]
    ce = next(r for r in runs if r.data.tags["variant"] == "ce_II")
    assert "test_crm_top1_error" in ce.data.metrics


def test_mlflow_runs_carry_the_real_training_times_and_a_view_of_the_key_columns(tiny_study):
    client, runs = mlflow_runs(tiny_study)
    for run in runs:
        run_dir = tiny_study / "results/tiny/synthetic/runs" / run.data.tags["variant"] / f"seed{run.data.tags['seed']}"
        provenance = yaml.safe_load((run_dir / "config.yaml").read_text())["provenance"]
        with open(run_dir / "history.csv") as handle:
            ended = [round(float(row["time"]) * 1000) for row in csv.DictReader(handle)]
        points = sorted(client.get_metric_history(run.info.run_id, "val_top1_error"), key=lambda point: point.step)
        assert run.info.start_time == round(provenance["started_at"] * 1000) < ended[0]
        assert [point.timestamp for point in points] == ended == sorted(ended)
        assert run.info.end_time == ended[-1] <= round(provenance["finished_at"] * 1000)  # the epochs' span
        with np.load(run_dir / "scores/val.npz") as scores:
            seconds = json.loads(str(scores["record"]))["seconds"]  # what evaluation measured, per split
        assert set(seconds) == {"val", "test"} and min(seconds.values()) > 0
        assert run.data.metrics["evaluation_seconds"] == pytest.approx(sum(seconds.values()))
        assert run.info.run_name == f"synthetic/{run.data.tags['variant']}/seed{run.data.tags['seed']}"
    experiment = client.get_experiment_by_name("tiny")
    view = json.loads(experiment.tags["mlflow.sharedViewState.haframe"])
    assert {"metrics.`test_top1_error`", "params.`variant`", "params.`seed`", "params.`method`"} <= set(
        view["selectedColumns"]
    )
    assert (
        f"#/experiments/{experiment.experiment_id}/runs?viewStateShareKey=haframe"
        in experiment.tags["mlflow.note.content"]
    )
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"  # opens on the runs, not GenAI


def test_under_umask_022_every_result_is_group_and_world_readable(tiny_study):
    files = [path for path in (tiny_study / "results").rglob("*") if path.is_file()]
    assert len(files) > 100
    unreadable = [str(path) for path in files if path.stat().st_mode & 0o044 != 0o044]
    assert not unreadable, unreadable[:10]


def test_moved_results_still_serve_every_artifact(tiny_study, tmp_path):
    from mlflow.tracking import MlflowClient

    moved = tmp_path / "elsewhere" / "results"
    shutil.copytree(tiny_study / "results", moved)
    with mlflow_server(moved / "mlflow.db", moved / "mlflow-artifacts") as uri:
        client = MlflowClient(uri)
        experiment = client.get_experiment_by_name("tiny")
        run = client.search_runs([experiment.experiment_id], "tags.`haframe.identity` = 'synthetic/haframe/seed0'")[0]
        assert {a.path for a in client.list_artifacts(run.info.run_id)} == {
            "config.yaml",
            "history.csv",
            "metrics.json",
            "nc.csv",
        }
        copy = client.download_artifacts(run.info.run_id, "metrics.json", str(tmp_path))
        assert (
            Path(copy).read_text()
            == (tiny_study / "results/tiny/synthetic/runs/haframe/seed0/metrics.json").read_text()
        )


def test_second_invocation_runs_nothing_and_adds_no_run(tiny_study):
    _, before = mlflow_runs(tiny_study, active_only=False)
    result = run_snakemake(tiny_study, tiny_study_config())
    assert "Nothing to be done" in result.stdout + result.stderr
    _, after = mlflow_runs(tiny_study, active_only=False)
    assert len(after) == len(before)


def test_a_deleted_chain_is_recomputed_from_the_saved_scores_without_a_model(tiny_study, tmp_path):
    """A CRM chain's metrics deleted (its file and the run's metrics.json) and asked for again:
    the rerun re-reads the saved scores and loads no model; so does recomputing every chain
    (`--forcerun posthoc`). (Snakemake rebuilds a missing file only when asked for it or for
    something newer that needs it.)"""
    workdir = tmp_path / "study"
    shutil.copytree(tiny_study, workdir, symlinks=True)
    before = {variant: metrics_of(workdir, variant, 0) for variant in ("ce_I", "ce_II")}
    for variant in before:
        run = workdir / f"results/tiny/synthetic/runs/{variant}/seed0"
        (run / "posthoc/crm.json").unlink()
        (run / "metrics.json").unlink()

    def planned(*args: str) -> list[tuple[str, str]]:
        """(rule, variant) of every job of a run the dry run lists."""
        plan = run_snakemake(workdir, tiny_study_config(), "--dry-run", *args).stdout
        jobs = re.findall(r"^(?:local)?rule (\w+):\n((?: {4}.*\n?)*)", plan, flags=re.M)
        return [(rule, run[1]) for rule, body in jobs if (run := re.search(r"wildcards: .*variant=(\w+)", body))]

    targets = [f"results/tiny/synthetic/runs/{variant}/seed0/metrics.json" for variant in before]
    assert sorted(planned(*targets)) == sorted((rule, v) for rule in ("posthoc", "assemble_metrics") for v in before)
    run_snakemake(workdir, tiny_study_config(), *targets)
    assert {variant: metrics_of(workdir, variant, 0) for variant in before} == before
    assert {rule for rule, _ in planned("--forcerun", "posthoc")} == {"posthoc", "assemble_metrics", "import_run"}


def test_a_hand_edited_result_is_refused_by_the_report_and_the_import(tiny_study, tmp_path):
    """Issue 25, item 11: 1.23 % error written over a run's metrics.json flows nowhere."""
    workdir = tmp_path / "study"
    shutil.copytree(tiny_study, workdir, symlinks=True)
    path = workdir / "results/tiny/synthetic/runs/ce_II/seed0/metrics.json"
    edited = json.loads(path.read_text())
    edited["top1_error"] = 1.23
    path.write_text(json.dumps(edited, indent=2))
    logs = {"report_dataset": "report/logs/synthetic.log", "import_run": "synthetic/logs/import_run/ce_II/seed0.log"}
    for rule, log in logs.items():
        result = run_snakemake(workdir, tiny_study_config(), "--forcerun", rule, check=False)
        assert result.returncode != 0, rule
        text = (workdir / "results/tiny" / log).read_text()
        assert "runs/ce_II/seed0/metrics.json: its values changed after evaluation wrote them" in text, rule


def test_forced_rerun_replaces_its_run_with_identical_numbers(tiny_study):
    target = "results/tiny/synthetic/runs/haframe/seed1/mlflow.json"
    before = metrics_of(tiny_study, "haframe", 1)
    _, runs_before = mlflow_runs(tiny_study)
    run_snakemake(tiny_study, tiny_study_config(), target, "--forcerun", "train")
    after = metrics_of(tiny_study, "haframe", 1)
    assert after == before  # same seed, fresh process: the same numbers
    _, runs_after = mlflow_runs(tiny_study)
    assert len(runs_after) == len(runs_before)
    identities = [r.data.tags["haframe.identity"] for r in runs_after]
    assert identities.count("synthetic/haframe/seed1") == 1


def test_changed_config_makes_a_new_run_and_supersedes_the_old(tiny_study, tmp_path):
    workdir = tmp_path / "changed"
    shutil.copytree(tiny_study, workdir, symlinks=True)  # the shared study stays as it is
    _, before = mlflow_runs(workdir)
    changed = tiny_study_config()
    changed["variants"]["haframe"]["alpha"] = 0.5
    run_snakemake(workdir, changed, "results/tiny/synthetic/runs/haframe/seed0/mlflow.json")
    _, after = mlflow_runs(workdir)
    (new,) = [r for r in after if r.info.run_id not in {b.info.run_id for b in before}]
    (old,) = [r for r in after if r.data.tags["haframe.identity"] == "synthetic/haframe/seed0" and r is not new]
    assert new.data.tags["haframe.identity"] == "synthetic/haframe/seed0" and new.data.params["params.alpha"] == "0.5"
    assert old.data.params["params.alpha"] == "0.4" and old.data.tags.get("haframe.superseded") == "true"
    assert "haframe.superseded" not in new.data.tags
    tags_before = {r.info.run_id: r.data.tags for r in before}
    assert all(r.data.tags == tags_before[r.info.run_id] for r in after if r not in (new, old))  # the others untouched


# (mutation of the tiny config, what the refusal must say)
BAD_CONFIGS = [
    (
        lambda c: c["variants"]["haframe"].update(alpha=1.5),
        "variants.haframe.alpha: expected a number in [0, 1] (0: fixed frame, plain CE), got 1.5",
    ),
    (
        lambda c: c["datasets"]["synthetic"].update(overrides={"haframe": {"alpha": -0.1}}),
        "datasets.synthetic.overrides.haframe.alpha: expected a number in [0, 1] (0: fixed frame, plain CE), got -0.1",
    ),
    (lambda c: c["variants"]["ce_II"].update(method="focal"), "variants.ce_II.method: unknown method 'focal'"),
    (lambda c: c["datasets"]["synthetic"].update(kind="mnist"), "datasets.synthetic.kind: 'mnist' is not one of"),
    (
        lambda c: c["datasets"]["synthetic"]["training"].update(epochs=0),
        "datasets.synthetic.training.epochs: expected an integer in [1, 100000], got 0",
    ),  # the option's check, not the schema's
    (lambda c: c.update(seeds=[]), "seeds: [] should be non-empty"),
    (
        lambda c: c["datasets"]["synthetic"].update(folder_typo=1),
        "datasets.synthetic: Additional properties are not allowed ('folder_typo' was unexpected)",
    ),
    (lambda c: c.update(seeds=[0.0]), "seeds.0: expected an integer, got 0.0"),  # JSON Schema alone admits 0.0
    (
        lambda c: c["datasets"]["synthetic"].update(overrides={"haframe": {"training": {"epoch": 3}}}),
        "datasets.synthetic.overrides.haframe.training: Additional properties are not allowed ('epoch' was unexpected)",
    ),
    (
        lambda c: (
            c["variants"].update(hafeature_II={"method": "hafeature", "head": "II"}),
            c["datasets"]["synthetic"].update(overrides={"hafeature_II": {"margin_levels": [2]}}),
        ),
        "datasets.synthetic.overrides.hafeature_II.margin_levels: [2] must lie in 1..1, the levels between the leaves "
        "(0) "
        "and the root (2) (dataset 'synthetic': K = 9 classes and height 2, from its planted tree",
    ),
    (
        lambda c: c["datasets"].update(
            mine={
                "kind": "cifar100",
                "frame": {"gamma": 1.0},
                "hierarchy": {"source": "trees/mine.tsv", "format": "tsv"},
            }
        ),
        "datasets.mine.hierarchy.source: 'trees/mine.tsv' is not an existing file",
    ),
    (
        lambda c: c["datasets"]["synthetic"]["training"].update(epochs=2.0),
        "datasets.synthetic.training.epochs: expected an integer, got 2.0",
    ),
    (lambda c: c["training"].update(lr=float("inf")), "training.lr: expected a finite number, got inf"),
    (
        lambda c: c["datasets"]["synthetic"]["training"].update(feature_dim=4),
        "datasets.synthetic.training.feature_dim: d = 4 is smaller than the K = 9 classes; method 'haframe'",
    ),
]


@pytest.mark.parametrize(
    "mutate, message",
    BAD_CONFIGS,
    ids=[
        "alpha",
        "alpha-dataset-override",
        "unknown-method",
        "unknown-dataset",
        "epochs",
        "empty-seeds",
        "unknown-key",
        "seed-float",
        "override-key",
        "margin-levels",
        "missing-hierarchy",
        "epochs-float",
        "lr-inf",
        "feature-dim",
    ],
)
def test_a_bad_config_is_refused_with_a_message_naming_the_field(tmp_path, monkeypatch, mutate, message):
    """What the Snakefile calls before it builds the DAG (the CLI's wiring: the test below)."""
    config = tiny_config()
    mutate(config)
    monkeypatch.chdir(tmp_path)  # where relative paths start, as for the workflow
    problems = schema_errors(config, REPO / "workflow/schemas/config.schema.yaml")
    if not problems:
        with pytest.raises(ConfigError) as refused:
            Study(config).check_local_files()
        problems = [str(refused.value)]
    assert any(message in problem for problem in problems), problems


@pytest.mark.parametrize("mutate, message", [BAD_CONFIGS[0], BAD_CONFIGS[6]], ids=["alpha", "unknown-key"])
def test_bad_config_stops_before_any_job_with_a_message_naming_the_field(tmp_path, mutate, message):
    config = tiny_config()
    mutate(config)
    result = run_snakemake(tmp_path, config, "--dry-run", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert message in output
    assert len(output.splitlines()) < 30  # the problem, not the schema
    assert not (tmp_path / "results").exists()


# The report of the shared study (haframe.report, test_report.py for its units)


def test_dag_leaves_every_table_figure_and_a_report_run(tiny_study):
    workdir = tiny_study
    results = workdir / "results" / "tiny" / "report"
    for name in ("synthetic", "ablation", "summary"):
        for suffix in ("md", "tex", "csv"):
            assert (results / "tables" / f"{name}.{suffix}").stat().st_size > 0
    for figure in ("error_vs_severity", "ahd_at_k", "training_curves"):
        for suffix in ("png", "svg"):
            assert (results / "figures" / f"synthetic_{figure}.{suffix}").stat().st_size > 1000
    svg = (results / "figures" / "synthetic_ahd_at_k.svg").read_text()
    for series in ("ce_I", "ce_I+crm", "ce_II", "ce_II+crm", "haframe"):
        assert f">{series}<" in svg
    marker = json.loads((results / "mlflow.json").read_text())
    client, runs = mlflow_runs(workdir, kind="report")
    assert [r.info.run_id for r in runs] == [marker["run_id"]]
    assert runs[0].data.tags["git_commit"]
    assert runs[0].info.artifact_uri == f"mlflow-artifacts:/tiny/{marker['run_id']}/artifacts"  # served by the proxy
    artifacts = workdir / "results" / "mlflow-artifacts" / "tiny" / marker["run_id"] / "artifacts"
    assert (artifacts / "tables/synthetic.tex").is_file() and (artifacts / "tables/scorecard.html").is_file()


def test_snakemake_html_report_builds(tiny_study):
    workdir, config = tiny_study, tiny_study_config()
    run_snakemake(workdir, config, "--report", str(workdir / "results" / "report.html"))
    html = (workdir / "results" / "report.html").read_text(errors="replace")
    assert len(html) > 100_000 and "synthetic_error_vs_severity.png" in html
    for table in ("synthetic.html", "synthetic_hierarchy.html", "summary.html", "scorecard.html", "ablation.html"):
        assert table in html, table  # the tables themselves, not only their Markdown downloads
    credited = dict(re.findall(r'"name": "([^"]+)", "filename".{0,3000}?"job_properties": \{"rule": "(\w+)"', html))
    assert credited["distance_histogram.png"] == "parse_hierarchy" and credited["cosines.png"] == "solve_frame"
    assert credited["synthetic_error_vs_severity.png"] == credited["synthetic.html"] == "report_dataset"
    assert credited["summary.html"] == "report_study" and "all" not in credited.values()  # the rule that made each


def test_the_report_of_a_fresh_study_builds(tmp_path):
    """Issue 26: `--report results/paper/report.html` on a fresh clone crashed (its folder did
    not exist) after a warning per output of every job not yet run."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    result = run_snakemake(tmp_path, config, "--report", "results/paper/report.html")
    assert (tmp_path / "results/paper/report.html").stat().st_size > 100_000
    assert "Missing metadata" not in result.stdout + result.stderr


def test_snapshot_marks_missing_runs_and_rebuilds_each_time(tiny_study, tmp_path):
    workdir, config = tiny_study, tiny_study_config()
    incomplete = tmp_path / "incomplete"
    (incomplete / "results").mkdir(parents=True)
    shutil.copytree(workdir / "results" / "tiny" / "synthetic", incomplete / "results" / "tiny" / "synthetic")
    (incomplete / "results/tiny/synthetic/runs/haframe/seed1/metrics.json").unlink()
    run_snakemake(incomplete, config, "snapshot")
    text = (incomplete / "results/tiny/report/snapshot/snapshot.md").read_text()
    assert "- synthetic / haframe / seed 1" in text
    assert "(5 of 6 runs)" in text
    first = (incomplete / "results/tiny/report/snapshot/synthetic.md").read_text()
    assert "| haframe | 1 |" in first
    again = run_snakemake(incomplete, config, "snapshot")
    assert "snapshot" in again.stdout + again.stderr and "Nothing to be done" not in again.stdout + again.stderr


def test_scorecard_through_the_dag_reads_the_reference_and_gives_no_ci_with_two_seeds(tiny_study, tmp_path):
    """The tiny study has 2 seeds: below the small-sample rule's 3, no CI, so every cell is "no
    CI" (within / outside on 3 seeds: tests/report/test_report.py, the hand-made case)."""
    workdir, config = tiny_study, tiny_study_config()
    copied = tmp_path / "copy"
    shutil.copytree(workdir / "results", copied / "results", ignore=shutil.ignore_patterns("report"))
    results = [json.loads(p.read_text()) for p in (copied / "results/tiny/synthetic/runs").glob("*/seed*/metrics.json")]
    rows = tables.table_rows(results, ["ce_II", "haframe", "ce_I"])
    variant, metric, stat = next(
        (row["name"], metric, row[metric]) for row in rows for metric in tables.METRICS if row.get(metric)
    )
    assert stat["n"] == 2 and stat["ci"] is None
    (copied / "reference.csv").write_text(
        "dataset,variant,metric,value,ci,source,table\n"
        f"synthetic,{variant},{metric},{stat['mean'] + 0.5},,synthetic,near\n"
        f"synthetic,{variant},{metric},{stat['mean'] - 20.0},,synthetic,far\n"
    )
    (copied / "notes.yaml").write_text("synthetic:\n  runs: placed around our own result\n")
    config = {**config, "report": {"reference_results": "reference.csv", "reference_notes": "notes.yaml"}}
    run_snakemake(copied, config, "results/tiny/report/tables/scorecard.csv", "--allowed-rules", "report_study")
    with open(copied / "results/tiny/report/tables/scorecard.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["table"], r["verdict"]) for r in rows] == [("near", "no CI"), ("far", "no CI")]
    assert "placed around our own result" in (copied / "results/tiny/report/tables/scorecard.md").read_text()


# Concurrent importers of the study into an http:// tracking server (a local `mlflow server`):
# nothing duplicated, nothing lost.

IMPORT = textwrap.dedent("""
    import sys
    from haframe.tracking import import_run
    run_dir, uri, lock_dir = sys.argv[1:]
    import_run(config=f"{run_dir}/config.yaml", history=f"{run_dir}/history.csv", nc=f"{run_dir}/nc.csv",
               metrics=f"{run_dir}/metrics.json", scores=[f"{run_dir}/scores/test.npz"], tracking_uri=uri,
               experiment="tiny", lock_dir=lock_dir)
""")


def test_eight_concurrent_importers_leave_one_run_per_identity(tiny_study, tmp_path):
    runs = tiny_study / "results/tiny/synthetic/runs"
    run_dirs = [runs / "haframe/seed0"] * 4 + [
        runs / f"{v}/seed{s}" for v, s in (("ce_II", 0), ("ce_II", 1), ("haframe", 1), ("ce_I", 0))
    ]
    with mlflow_server(tmp_path / "server.db", tmp_path / "artifacts") as uri:
        importers = [
            subprocess.Popen(
                [sys.executable, "-c", IMPORT, str(run_dir), uri, str(tmp_path / "results")],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for run_dir in run_dirs
        ]
        outputs = [process.communicate(timeout=240)[0] for process in importers]
        assert [process.returncode for process in importers] == [0] * 8, "\n".join(outputs)[-4000:]
        client, active = mlflow_runs(uri)
        identities = sorted(run.data.tags["haframe.identity"] for run in active)
        assert identities == sorted({f"synthetic/{d.parent.name}/{d.name}" for d in run_dirs})  # each once
        for run in active:
            assert {a.path for a in client.list_artifacts(run.info.run_id)} == {
                "config.yaml",
                "history.csv",
                "metrics.json",
                "nc.csv",
            }
            assert client.get_metric_history(run.info.run_id, "val_top1_error")


# A run that fails is recorded and reported, the rest of the study finishes, and the report is
# built from what did: a variant whose loss diverges (a deliberate learning rate of 1e30), added
# to a copy of the tiny study in which one other run has still to train.

DIVERGES = {"method": "ce", "head": "II", "training": {"lr": 1.0e30}}


def diverging_config() -> dict:
    config = tiny_study_config()
    config["variants"]["diverges"] = DIVERGES
    return config


@pytest.fixture(scope="module")
def failed_study(tiny_study, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("failed") / "study"
    shutil.copytree(tiny_study, workdir, symlinks=True)
    shutil.rmtree(workdir / "results/tiny/synthetic/runs/haframe/seed1")  # to train beside the failing runs
    first = run_snakemake(workdir, diverging_config(), check=False)
    second = run_snakemake(workdir, diverging_config(), check=False)
    return workdir, first, second


def test_the_diverged_run_fails_with_its_reason_and_the_others_finish(failed_study):
    workdir, first, _ = failed_study
    assert first.returncode != 0
    runs = workdir / "results/tiny/synthetic/runs"
    for seed in SEEDS:
        record = json.loads((runs / f"diverges/seed{seed}/failed.json").read_text())
        assert record["stage"] == "train"
        assert record["error"].startswith(f"TrainingDiverged: synthetic/diverges/seed{seed}: the loss diverged")
        assert not (runs / f"diverges/seed{seed}/checkpoint.pt").exists()
    output = first.stdout + first.stderr
    assert "] train synthetic/haframe/seed1" in output  # it ran in this invocation ...
    assert (runs / "haframe/seed1/mlflow.json").is_file()
    assert output.count("] import_run synthetic/") == 1  # ... and the copied study imported no other run again
    assert re.search(r"run \d+/\d+ done \(synthetic/haframe/seed1, \d+ s\)", output)  # one line per run done
    assert not re.search(r"^(local)?rule \w+:$", output, re.M)  # no per-job blocks (a failure's stays whole)
    assert "steps (" not in output.replace("steps (100%) done", "")


def test_the_next_invocation_leaves_it_out_and_reports_it(failed_study):
    workdir, _, second = failed_study
    assert second.returncode == 0, second.stderr[-3000:]
    assert "2 run(s) failed before and are left out" in second.stderr
    report = workdir / "results/tiny/report/tables"
    summary = (report / "summary.md").read_text()
    for seed in SEEDS:
        assert (
            f"- synthetic/diverges/seed{seed}: failed in train: TrainingDiverged: synthetic/diverges/seed{seed}: "
            "the loss diverged"
        ) in summary
    table = (report / "synthetic.md").read_text()
    assert "| diverges |" not in table and "failed in train: synthetic/diverges/seed0" in table
    assert "<li>synthetic/diverges/seed0: failed in train" in (report / "summary.html").read_text()
    _, runs = mlflow_runs(workdir)
    assert sorted(r.data.tags["haframe.identity"] for r in runs) == sorted(
        f"synthetic/{variant}/seed{seed}" for variant in VARIANTS for seed in SEEDS
    )


def test_a_run_whose_directory_fails_after_its_import_is_marked_failed_in_mlflow(tiny_study, tmp_path):
    """Issue 25: a run imported as FINISHED whose directory fails later (here its evaluation, as
    scripts/evaluate.py records it) is left out of the report, and MLflow marks its run FAILED."""
    workdir = tmp_path / "study"
    shutil.copytree(tiny_study, workdir, symlinks=True)
    run_dir = workdir / "results/tiny/synthetic/runs/ce_II/seed0"
    with pytest.raises(RuntimeError), recorded_failure(run_dir, "evaluate"):
        raise RuntimeError("the scores could not be written")
    run_snakemake(workdir, tiny_study_config())
    _, runs = mlflow_runs(workdir)
    by_identity = {run.data.tags["haframe.identity"]: run for run in runs}
    failed = by_identity["synthetic/ce_II/seed0"]
    assert failed.info.status == "FAILED"
    assert failed.data.tags["haframe.failure"] == "evaluate: RuntimeError: the scores could not be written"
    assert {run.info.status for name, run in by_identity.items() if name != "synthetic/ce_II/seed0"} == {"FINISHED"}


def test_a_failed_run_is_retried_only_when_asked_for(failed_study):
    workdir, _, _ = failed_study
    again = run_snakemake(workdir, diverging_config(), "--dry-run")
    assert "Nothing to be done" in again.stdout + again.stderr
    asked = run_snakemake(
        workdir, diverging_config(), "results/tiny/synthetic/runs/diverges/seed0/metrics.json", "--dry-run"
    )
    assert "wildcards: dataset=synthetic, variant=diverges, seed=0" in asked.stdout
