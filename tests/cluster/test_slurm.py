"""profiles/slurm on a live single-node SLURM cluster (`make test-cluster`; root, Debian, apt).

.ci/slurm/start.sh installs and starts munge, MariaDB, slurmdbd, slurmctld and slurmd on
localhost (one fake GPU); the shrunk demo study then runs through

    snakemake --profile profiles/slurm --profile <site profile>

where the site profile changes only the entries listed in site_overrides(). The same config
runs locally with --cores in another directory, and the two are compared: sacct's jobs against
the DAG (each training job one GPU and cpus = training.threads + training.workers), every test
metric, and the MLflow runs. A second, one-run study has its training process killed on the
node: it is retried with twice the time limit, resumes, ends with a local run's numbers, and
is imported into an http:// tracking server. The daemons are stopped by PID
(.ci/slurm/stop.sh) in every case, also when the Makefile's timeout interrupts the test.

Not collected by plain `pytest` / `make test` (pyproject's norecursedirs names this folder).
"""

import copy
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO, SNAKEMAKE, mlflow_runs, mlflow_server, tiny_config, training_pids

START = REPO / ".ci" / "slurm" / "start.sh"
STOP = REPO / ".ci" / "slurm" / "stop.sh"
STATE = Path(os.environ.get("HAFRAME_SLURM_STATE", "/tmp/haframe-slurm"))
PROFILE = REPO / "profiles" / "slurm" / "config.yaml"

# Threads per training/evaluation job: torch threads + DataLoader workers. Workers do nothing
# for array datasets, so the numbers are unchanged, but the job must ask SLURM for 2 CPUs.
THREADS, WORKERS = 1, 1

SACCT_FIELDS = "JobID,JobName,Comment,State,ExitCode,Partition,Account,AllocCPUS,AllocTRES,Timelimit,Elapsed,NodeList"


def site_overrides(cluster: dict, workdir: Path) -> dict:
    """The ONLY profile entries this test changes: where this cluster differs from a site."""
    return {
        # The test cluster's partition and account (profiles/slurm has placeholders).
        ("default-resources", "slurm_partition"): f"'{cluster['partition']}'",
        ("default-resources", "slurm_account"): f"'{cluster['account']}'",
        # One small node (2 cores, ~17 GB): the demo needs far less than ResNet-50 jobs.
        ("set-resources", "train", "mem_mb"): 1500,
        ("set-resources", "evaluate", "mem_mb"): 1500,
        # evaluate takes the documented alternative for sites that accept only --gres.
        ("set-resources", "evaluate", "gpu"): 0,
        ("set-resources", "evaluate", "gres"): "'gpu:1'",
        # The test's own directory, not the repository's results/.
        ("slurm-logdir",): str(workdir / "slurm-logs"),
        # Test-sized waits: sacct knows a job at once here, and the filesystem is local.
        ("slurm-init-seconds-before-status-checks",): 5,
        ("latency-wait",): 5,
    }


def site_profile(directory: Path, cluster: dict, workdir: Path) -> dict:
    """Write a profile with the overridden top-level keys of profiles/slurm (a later --profile
    replaces whole top-level keys, so each overridden key is copied and then changed)."""
    base = yaml.safe_load(PROFILE.read_text())
    site = {}
    for path, value in site_overrides(cluster, workdir).items():
        top = path[0]
        if top not in site:
            site[top] = copy.deepcopy(base.get(top))
        if len(path) == 1:
            site[top] = value
            continue
        node = site[top]
        for key in path[1:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.yaml").write_text(yaml.safe_dump(site, sort_keys=False))
    return site


def cluster_config() -> dict:
    config = tiny_config()
    config["training"].update(threads=THREADS, workers=WORKERS)
    return config


def start_bounded(command: list, seconds: int, **kwargs) -> subprocess.Popen:
    """Start under `timeout -k` (snakemake waiting on a broken status query ignores SIGTERM), in
    a process group of its own, so that finish() can kill all of it."""
    return subprocess.Popen(
        ["timeout", "-k", "10", str(seconds), *map(str, command)], text=True, start_new_session=True, **kwargs
    )


def finish(process: subprocess.Popen, timeout: float | None = None) -> tuple[str, str]:
    """Wait for a start_bounded process; if the test is interrupted meanwhile (the Makefile's
    timeout, Ctrl-C), SIGKILL its whole process group before passing the interruption on."""
    try:
        return process.communicate(timeout=timeout)
    except BaseException:
        kill_group(process)
        raise


def kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def bounded(command: list, seconds: int, **kwargs) -> subprocess.CompletedProcess:
    process = start_bounded(command, seconds, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)
    stdout, stderr = finish(process)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def declared_local_rules() -> set[str]:
    """The rules the workflow declares ``localrule: True`` (they run on the submit host)."""
    rules = set()
    for path in (REPO / "workflow" / "rules").glob("*.smk"):
        for name, body in re.findall(r"^rule (\w+):\n((?:[ \t]+.*\n|\n)*)", path.read_text(), flags=re.M):
            if re.search(r"^\s+localrule: True", body, flags=re.M):
                rules.add(name)
    return rules


def snakemake_cli(workdir: Path, config: dict, *args, seconds: int, env=None) -> subprocess.CompletedProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    config_file = workdir / "config.yaml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    command = [
        SNAKEMAKE,
        "--snakefile",
        REPO / "workflow" / "Snakefile",
        "--directory",
        workdir,
        "--configfile",
        config_file,
        *args,
    ]
    result = bounded(command, seconds, cwd=REPO, env={**(env or os.environ), "PYTHONUNBUFFERED": "1"})
    (workdir / "snakemake.out").write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({result.returncode}; 124/137: timed out):\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
        )
    return result


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="module")
def cluster():
    if os.geteuid() != 0:
        pytest.fail("make test-cluster needs root (apt-get, daemons)")
    # A SIGTERM (the Makefile's timeout) unwinds like Ctrl-C, so the finaliser below still runs.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        started = bounded(["bash", START, STATE], 420)
        sys.stderr.write(started.stderr[-3000:])
        if started.returncode != 0:
            pytest.fail(
                f"could not start the test cluster ({started.returncode}):\n{started.stdout}\n{started.stderr[-6000:]}"
            )
        info = json.loads((STATE / "cluster.json").read_text())
        yield info
    finally:
        stopped = bounded(["bash", STOP, STATE], 120)
        sys.stderr.write(stopped.stderr)
        recorded = (STATE / "pids").read_text().split() if (STATE / "pids").exists() else []
        signal.signal(signal.SIGTERM, previous)
        assert stopped.returncode == 0 and not recorded, f"daemons left running: {recorded}\n{stopped.stderr}"


@pytest.fixture(scope="module")
def slurm_env(cluster):
    return {**os.environ, "SLURM_CONF": cluster["slurm_conf"], "PATH": os.environ["PATH"] + ":/usr/sbin:/sbin"}


@pytest.fixture(scope="module")
def cluster_study(cluster, slurm_env, tmp_path_factory):
    """The study through profiles/slurm: (workdir, DAG job counts, sacct rows, local rules)."""
    workdir = tmp_path_factory.mktemp("slurm_study")
    site = tmp_path_factory.mktemp("site_profile")
    site_profile(site, cluster, workdir)
    profiles = ["--profile", REPO / "profiles" / "slurm", "--profile", site]
    config = cluster_config()
    dry = snakemake_cli(workdir, config, *profiles, "--dry-run", seconds=60, env=slurm_env)
    dag = {m["rule"]: int(m["count"]) for m in re.finditer(r"^(?P<rule>\w+)\s+(?P<count>\d+)$", dry.stdout, flags=re.M)}
    since = time.strftime("%Y-%m-%dT%H:%M:%S")
    snakemake_cli(workdir, config, *profiles, seconds=330, env=slurm_env)
    local_rules = declared_local_rules()
    sacct = bounded(["sacct", "-X", "-a", "-n", "-P", "-S", since, "-o", SACCT_FIELDS], 30, env=slurm_env)
    assert sacct.returncode == 0, sacct.stderr
    rows = [dict(zip(SACCT_FIELDS.split(","), line.split("|"))) for line in sacct.stdout.splitlines() if line]
    table = bounded(
        [
            "sacct",
            "-X",
            "-a",
            "-S",
            since,
            "-o",
            "JobID,Comment%48,State,Partition,Account,AllocCPUS,AllocTRES%48,Timelimit,Elapsed",
        ],
        30,
        env=slurm_env,
    )
    print(f"\nsacct of the cluster run ({workdir}):\n{table.stdout}", file=sys.stderr)
    return workdir, dag, rows, local_rules


@pytest.fixture(scope="module")
def local_study(tmp_path_factory):
    """The same config on this machine with --cores (the repository's default profile)."""
    workdir = tmp_path_factory.mktemp("local_study")
    snakemake_cli(workdir, cluster_config(), "--cores", "2", seconds=240)
    return workdir


def jobs_of(rows, rule: str) -> list[dict]:
    return [r for r in rows if r["Comment"] == f"rule_{rule}" or r["Comment"].startswith(f"rule_{rule}_wildcards_")]


def test_sacct_has_one_training_job_per_dag_job_with_one_gpu_and_the_rules_threads(cluster_study, cluster):
    _, dag, rows, _ = cluster_study
    config = cluster_config()
    expected_train = len(config["variants"]) * len(config["seeds"])
    assert dag["train"] == expected_train == 4 and dag["evaluate"] == 4, dag
    train = jobs_of(rows, "train")
    assert len(train) == dag["train"], rows
    for job in train:
        assert job["State"] == "COMPLETED" and job["ExitCode"] == "0:0", job
        assert "gres/gpu=1" in job["AllocTRES"].split(","), job
        assert int(job["AllocCPUS"]) == THREADS + WORKERS == 2, job
        assert f"cpu={THREADS + WORKERS}" in job["AllocTRES"].split(","), job
        assert job["Partition"] == cluster["partition"] and job["Account"] == cluster["account"], job
        assert job["Timelimit"] == "1-00:00:00", job  # tiny_cnn has no measured rate: a day x attempt 1
    wildcards = sorted(j["Comment"] for j in train)
    assert wildcards == sorted(
        f"rule_train_wildcards_synthetic_{v}_{s}" for v in config["variants"] for s in config["seeds"]
    )


def test_evaluation_jobs_get_their_gpu_through_the_gres_alternative(cluster_study):
    _, dag, rows, _ = cluster_study
    evaluate = jobs_of(rows, "evaluate")
    assert len(evaluate) == dag["evaluate"]
    for job in evaluate:
        assert job["State"] == "COMPLETED", job
        assert "gres/gpu=1" in job["AllocTRES"].split(","), job
        assert int(job["AllocCPUS"]) == THREADS + WORKERS, job
        assert job["Timelimit"] == "01:00:00", job


def test_every_other_job_is_one_sacct_job_without_gpu_and_local_rules_never_reach_slurm(cluster_study):
    _, dag, rows, local_rules = cluster_study
    assert "import_run" in local_rules and dag["import_run"] == 4
    assert not jobs_of(rows, "import_run")  # the MLflow writer runs on the submit host
    remote = {rule: n for rule, n in dag.items() if rule not in local_rules | {"all", "total", "train", "evaluate"}}
    assert {"prepare_synthetic", "solve_frame", "report_dataset"} <= set(remote), dag
    assert {"parse_hierarchy", "import_report"} <= local_rules  # the parse reads a local tree where it is
    for rule, count in remote.items():
        jobs = jobs_of(rows, rule)
        assert len(jobs) == count, (rule, rows)
        for job in jobs:
            assert job["State"] == "COMPLETED" and "gres/gpu" not in job["AllocTRES"], job
    assert len(rows) == sum(remote.values()) + dag["train"] + dag["evaluate"], rows


def test_every_test_metric_equals_the_local_run(cluster_study, local_study):
    workdir, *_ = cluster_study
    cluster_metrics = sorted(workdir.glob("results/tiny/*/runs/*/seed*/metrics.json"))
    assert len(cluster_metrics) == 4
    for path in cluster_metrics:
        local = local_study / path.relative_to(workdir)
        assert json.loads(path.read_text()) == json.loads(local.read_text()), path.relative_to(workdir)
    assert sorted(p.relative_to(local_study) for p in local_study.glob("results/tiny/*/runs/*/seed*/metrics.json")) == [
        p.relative_to(workdir) for p in cluster_metrics
    ]


def test_mlflow_holds_the_same_runs_as_the_local_run(cluster_study, local_study):
    def runs(workdir: Path) -> dict:
        found = {}
        for run in mlflow_runs(workdir)[1]:
            tags = run.data.tags
            test_metrics = {k: v for k, v in run.data.metrics.items() if k.startswith("test_")}
            found[tags["haframe.identity"]] = (tags["haframe.config_hash"], test_metrics)
        return found

    workdir, *_ = cluster_study
    on_cluster, local = runs(workdir), runs(local_study)
    assert (
        sorted(on_cluster)
        == sorted(local)
        == sorted(f"synthetic/{v}/seed{s}" for v in ("ce_II", "haframe") for s in (0, 1))
    )
    assert on_cluster == local


def test_slurm_logs_and_rule_logs_are_where_the_readme_says(cluster_study):
    workdir, *_ = cluster_study
    assert (workdir / "results/tiny/synthetic/logs/train/haframe/seed0.log").is_file()
    # The plugin keeps a job's SLURM log only when the job failed (and then removes empty folders).
    assert not list((workdir / "slurm-logs").rglob("*.log"))


def retry_config() -> dict:
    """One training run long enough (8 epochs) to be killed between two epochs."""
    config = tiny_config(seeds=[0])
    config["variants"] = {"haframe": config["variants"]["haframe"]}
    config["training"].update(threads=THREADS, workers=WORKERS)
    ds = config["datasets"]["synthetic"]
    ds["synthetic"].update(train_per_class=120)
    ds["training"].update(epochs=8)
    return config


@pytest.fixture
def tracking_server(tmp_path_factory):
    """A user's MLflow tracking server (http, 127.0.0.1 only), stopped with its process group."""
    directory = tmp_path_factory.mktemp("mlflow_server")
    with mlflow_server(directory / "server.db", directory / "artifacts", seconds=500) as uri:
        yield uri


def test_a_failed_training_job_is_retried_with_twice_the_time_and_resumes(
    cluster, slurm_env, tmp_path_factory, tracking_server
):
    """...and its run is imported into the user's http tracking server (mlflow.tracking_uri)."""
    workdir = tmp_path_factory.mktemp("slurm_retry")
    site = tmp_path_factory.mktemp("site_profile_retry")
    site_profile(site, cluster, workdir)
    config = retry_config()
    config["mlflow"]["tracking_uri"] = tracking_server
    workdir.joinpath("config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    since = time.strftime("%Y-%m-%dT%H:%M:%S")
    command = [
        SNAKEMAKE,
        "--snakefile",
        REPO / "workflow" / "Snakefile",
        "--directory",
        workdir,
        "--configfile",
        workdir / "config.yaml",
        "--profile",
        REPO / "profiles" / "slurm",
        "--profile",
        site,
    ]
    run = start_bounded(command, 240, cwd=REPO, env=slurm_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        state = workdir / "results/tiny/synthetic/runs/haframe/seed0/resume/state.pt"
        deadline = time.monotonic() + 180
        while not state.exists():  # the first epoch is saved: kill the job during a later one
            assert run.poll() is None and time.monotonic() < deadline, "training never saved an epoch"
            time.sleep(0.1)
        queue = bounded(["squeue", "-h", "-o", "%i %k"], 20, env=slurm_env).stdout.split("\n")
        job = next(line.split()[0] for line in queue if line.endswith(" rule_train_wildcards_synthetic_haframe_0"))
        # A crash on the node: SIGKILL the training process inside the SLURM job. (Not scancel:
        # the plugin reads sacct's "CANCELLED by <uid>" as still running and waits forever.)
        pids = training_pids(workdir)
        assert pids, "no training process found"
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
    except BaseException:
        kill_group(run)
        raise
    output, _ = finish(run, timeout=260)
    (workdir / "snakemake.out").write_text(output)
    assert run.returncode == 0, output[-6000:]

    sacct = bounded(["sacct", "-X", "-a", "-n", "-P", "-S", since, "-o", SACCT_FIELDS], 30, env=slurm_env)
    rows = [dict(zip(SACCT_FIELDS.split(","), line.split("|"))) for line in sacct.stdout.splitlines() if line]
    train = jobs_of(rows, "train")
    print(
        "\nsacct of the killed and retried training:\n"
        + "\n".join(
            f"{r['JobID']} {r['Comment']} {r['State']} {r['AllocTRES']} Timelimit={r['Timelimit']}" for r in train
        ),
        file=sys.stderr,
    )
    assert [(r["JobID"] == job, r["State"].split()[0], r["Timelimit"]) for r in train] == [
        (True, "FAILED", "1-00:00:00"),  # attempt 1: 24 h
        (False, "COMPLETED", "2-00:00:00"),  # attempt 2: 24 h x 2
    ]
    log = (workdir / "results/tiny/synthetic/logs/train/haframe/seed0.log").read_text()
    assert "resumed after epoch" in log, log

    local = tmp_path_factory.mktemp("local_retry")
    snakemake_cli(local, retry_config(), "--cores", "2", seconds=180)
    metrics = "results/tiny/synthetic/runs/haframe/seed0/metrics.json"
    resumed = json.loads((workdir / metrics).read_text())
    assert resumed == json.loads((local / metrics).read_text())

    _, runs = mlflow_runs(tracking_server)
    assert [r.data.tags["haframe.identity"] for r in runs] == ["synthetic/haframe/seed0"]
    assert runs[0].data.metrics["test_top1_error"] == pytest.approx(resumed["top1_error"])
    marker = json.loads((workdir / "results/tiny/synthetic/runs/haframe/seed0/mlflow.json").read_text())
    assert marker["tracking_uri"] == tracking_server and marker["run_id"] == runs[0].info.run_id
    assert not (workdir / "results" / "mlflow.db").exists()  # nothing went to a local store
