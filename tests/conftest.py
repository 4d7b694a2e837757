import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(
    os.environ.get("HAFRAME_SHARED") or REPO.parent / "shared"
)  # HAFRAME_SHARED=/nonexistent: as a fresh clone
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def tiny_config(**overrides) -> dict:
    """The demo study shrunk to seconds: 9 classes, 2 epochs, 2 seeds, type-II CE (with CRM) and HAFrame."""
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config["study"] = "tiny"  # outputs in results/tiny/
    config["seeds"] = [0, 1]
    config["variants"] = {name: config["variants"][name] for name in ("ce_II", "haframe")}
    ds = config["datasets"]["synthetic"]
    ds["synthetic"].update(branching=[3, 3], train_per_class=24, val_per_class=6, test_per_class=10)
    ds["training"].update(epochs=2, batch_size=32, nc_every=1)
    for key, value in overrides.items():
        config[key] = value
    return config


def run_snakemake(
    workdir: Path, config: dict, *args: str, check: bool = True, umask: int = 0o022, code: Path = REPO
) -> subprocess.CompletedProcess:
    """Run the real CLI on a checkout's workflow (``code``: this repository, or another checkout
    with its own library) in ``workdir`` with ``config``, under a shared-filesystem umask (022:
    files group- and world-readable)."""
    workdir.mkdir(parents=True, exist_ok=True)
    config_file = workdir / "config.yaml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    command = [
        str(SNAKEMAKE),
        "--snakefile",
        str(code / "workflow" / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(config_file),
        "--cores",
        "2",
        *args,
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if code != REPO:  # its library, not the virtualenv's editable install of this one
        env["PYTHONPATH"] = str(code / "src")
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=env,
        cwd=code,  # picks up its profiles/default
        preexec_fn=lambda: os.umask(umask),
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}"
        )
    return result


TINY_STUDY_VARIANTS = ("ce_II", "haframe", "ce_I")


def tiny_study_config() -> dict:
    """The shared tiny study: the demo's variants plus type-I CE, both heads with CRM."""
    config = tiny_config()
    config["variants"]["ce_I"] = {"method": "ce", "head": "I", "posthoc": ["crm"]}
    return config


# The files that take longest, run first (seconds of one `make test` on 2 cores, 2026-12-01).
# A worker takes its next file when it has two tests left, so a long file handed out last keeps
# one worker busy while the other has nothing left: xdist's own order (most tests first) did
# that, 496 s where longest-first packs both workers into 462 s (a replay of the measured
# durations). An outdated list only costs time.
LONGEST_FILES = (
    "test_workflow",
    "test_upgrade",
    "test_resume",
    "test_variants",
    "test_byo_folder",
    "test_readme_commands",
    "test_recipes",
)  # 232, 137 (alone, 2026-12-04), 132, 116, 37, 33, 27 s


def pytest_collection_modifyitems(items):
    def rank(item):
        name = item.module.__name__
        return LONGEST_FILES.index(name) if name in LONGEST_FILES else len(LONGEST_FILES)

    items.sort(key=rank)  # stable: the rest keep pytest's order


@pytest.fixture(scope="session")
def tiny_study(tmp_path_factory) -> Path:
    """A finished tiny study (the DAG through the snakemake CLI), shared by the workflow,
    report and tracking tests; tests may rerun its jobs but must leave the same numbers."""
    workdir = tmp_path_factory.mktemp("study")
    run_snakemake(workdir, tiny_study_config())
    return workdir


def mlflow_client(store: Path | str):
    """A client of the study in ``store`` (a working directory: its results/mlflow.db), or of
    the tracking server at the URI ``store``."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(store if isinstance(store, str) else f"sqlite:///{store / 'results' / 'mlflow.db'}")


def direct_to_localhost(monkeypatch) -> None:
    """No proxy between a test and its servers on 127.0.0.1 (a proxy in the environment would
    answer for them)."""
    for key in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@contextlib.contextmanager
def http_servers():
    """A list to put started test servers in (``httpd``, ``thread``, ``release``); at the end each
    is released from any stalled answer, shut down and joined."""
    servers: list = []
    try:
        yield servers
    finally:
        for server in servers:
            server.release.set()
            server.httpd.shutdown()
            server.httpd.server_close()
            server.thread.join(timeout=5)


@contextlib.contextmanager
def mlflow_server(backend_db: Path, artifacts: Path, seconds: int = 300):
    """``mlflow server`` on 127.0.0.1 (a free port) over a sqlite store and an artifact
    folder, as a user would start it; yields its URI and stops it (and its workers) after."""
    import socket
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = backend_db.parent / f"mlflow-server-{port}.log"
    command = [
        Path(sys.executable).with_name("mlflow"),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        port,
        "--workers",
        "1",
        "--backend-store-uri",
        f"sqlite:///{backend_db}",
        "--artifacts-destination",
        artifacts,
    ]
    # MLflow's job execution (GenAI jobs, huey consumer processes) is unused here and costs 3 s of CPU per consumer
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    server = subprocess.Popen(
        ["timeout", "-k", "10", str(seconds), *map(str, command)],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=env,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        yield uri
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def mlflow_runs(store: Path | str, experiment: str = "tiny", active_only: bool = True, kind: str = "run"):
    """(client, runs) of one study's experiment, its training runs (``kind="run"``), its
    pretrained classifiers' evaluations (``"pretrained"``) or its report builds (``"report"``);
    see ``mlflow_client`` for ``store``."""
    from mlflow.entities import ViewType

    client = mlflow_client(store)
    found = client.get_experiment_by_name(experiment)
    view = ViewType.ACTIVE_ONLY if active_only else ViewType.ALL
    return client, client.search_runs(
        [found.experiment_id], filter_string=f"tags.`haframe.kind` = '{kind}'", run_view_type=view
    )


def stage_assets(root: Path, hierarchy, gamma: float = 1.0):
    """The ``RunAssets`` of ``hierarchy`` (a ``Hierarchy``) as its hierarchy and frame stages
    write them under ``root``."""
    from haframe.assets import FRAME_FILES, HIERARCHY_FILES, RunAssets, build_frame_stage, build_hierarchy_stage

    tsv = root / "source.tsv"
    tsv.write_text(hierarchy.to_tsv())
    files = {key: root / "hierarchy" / name for key, name in HIERARCHY_FILES.items()}
    frames = {key: root / "frames" / name for key, name in FRAME_FILES.items()}
    build_hierarchy_stage(tsv, "tsv", files)
    build_frame_stage(files["tsv"], files["distances"], gamma, "grid", frames)
    return RunAssets.load(
        hierarchy=files["tsv"],
        distances=files["distances"],
        levels=files["levels"],
        haframe=frames["haframe"],
        etf=frames["etf"],
    )


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


def load_distance_dict(path):
    """A published ``{(a, b): distance}`` pickle (lzma): it references no global at all."""
    from haframe.pickles import safe_unpickle

    table = safe_unpickle(path)
    if not isinstance(table, dict):
        raise ValueError(f"{path}: expected a dict of node pairs, got {type(table).__name__}")
    return table


def distance_matrix_from_dict(table, classes):
    """K x K matrix from a pair dict that holds either (a, b) or (b, a) for every pair."""
    K = len(classes)
    D = np.zeros((K, K), dtype=np.int64)
    for i, a in enumerate(classes):
        for j, b in enumerate(classes[i + 1 :], start=i + 1):
            D[i, j] = D[j, i] = table[(a, b)] if (a, b) in table else table[(b, a)]
    return D
