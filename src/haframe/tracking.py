"""Import finished run directories into MLflow: files are the truth, MLflow is the index.

One writer at a time (an exclusive file lock beside a sqlite store), so a fresh store's
schema is created once and never raced. Identity = dataset/variant/seed + config hash:
re-importing the same identity replaces its run; a new config hash for the same
dataset/variant/seed tags the older runs ``superseded``.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import json
import os
import time
from pathlib import Path
from typing import Iterator

from .io import read_json, read_yaml
from .runs import RunSpec

IDENTITY_TAG = "haframe.identity"
HASH_TAG = "haframe.config_hash"
SUPERSEDED_TAG = "haframe.superseded"



def default_tracking_uri(results_dir: str | Path) -> str:
    return f"sqlite:///{Path(results_dir).resolve()}/mlflow.db"


def _sqlite_path(uri: str) -> Path | None:
    return Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None


@contextlib.contextmanager
def writer_lock(uri: str) -> Iterator[None]:
    """Exclusive lock for a local sqlite store (a no-op for a tracking server)."""
    db = _sqlite_path(uri)
    if db is None:
        yield
        return
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + ".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def flatten(prefix: str, value, out: dict) -> dict:
    if isinstance(value, dict):
        for key, item in value.items():
            flatten(f"{prefix}.{key}" if prefix else str(key), item, out)
    else:
        out[prefix] = value
    return out


def _experiment_id(client, name: str, artifact_root: Path | None) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = (artifact_root / name).as_uri() if artifact_root else None
    return client.create_experiment(name, artifact_location=location)


def import_run(*, config: str | Path, history: str | Path, nc: str | Path, metrics: str | Path | None, tracking_uri: str,
               experiment: str) -> dict:
    """Create (or replace) the MLflow run of one finished run from its ``config.yaml``,
    ``history.csv``, ``nc.csv`` and ``metrics.json`` (None for an auxiliary model)."""
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    saved = read_yaml(config)
    run, identity_hash, prov = RunSpec.from_dict(saved["run"]), saved["identity"], saved["provenance"]
    test = read_json(metrics) if metrics else {}
    identity = run.name
    db = _sqlite_path(tracking_uri)
    artifact_root = db.parent / "mlflow-artifacts" if db else None

    with writer_lock(tracking_uri):
        client = MlflowClient(tracking_uri)
        experiment_id = _experiment_id(client, experiment, artifact_root)
        previous = client.search_runs([experiment_id], filter_string=f"tags.`{IDENTITY_TAG}` = '{identity}'")
        for old in previous:
            if old.data.tags.get(HASH_TAG) == identity_hash:
                client.delete_run(old.info.run_id)  # a forced rerun replaces its run
            else:
                client.set_tag(old.info.run_id, SUPERSEDED_TAG, "true")
        tags = {
            IDENTITY_TAG: identity, HASH_TAG: identity_hash, "dataset": run.dataset,
            "variant": run.variant, "seed": str(run.seed), "git_commit": prov["git_commit"],
            "host": prov["host"], "device": prov["device"], "torch": prov["torch"],
            "mlflow.runName": f"{run.variant}/seed{run.seed}",
        }
        created = client.create_run(experiment_id, tags=tags)
        run_id = created.info.run_id
        params = [Param(k, json.dumps(v) if not isinstance(v, str) else v) for k, v in flatten("", run.to_dict(), {}).items()]
        points = _epoch_metrics(Path(history)) + _epoch_metrics(Path(nc), prefix="nc_") + _test_metrics(test)
        for start in range(0, len(params), 100):  # MLflow's per-batch limits
            client.log_batch(run_id, params=params[start:start + 100])
        for start in range(0, len(points), 1000):
            client.log_batch(run_id, metrics=[Metric(*m) for m in points[start:start + 1000]])
        for path in filter(None, (config, history, nc, metrics)):
            client.log_artifact(run_id, str(path))
        client.set_terminated(run_id, "FINISHED")
    return {"run_id": run_id, "experiment": experiment, "identity": identity, "config_hash": identity_hash, "tracking_uri": tracking_uri}


def _epoch_metrics(path: Path, prefix: str = "") -> list[tuple]:
    """(prefix + column, value, timestamp_ms, step) for every cell of a per-epoch CSV
    (history.csv, nc.csv); step = epoch; empty cells (a statistic that does not apply) are left out."""
    timestamp = int(os.path.getmtime(path) * 1000)
    rows = []
    with open(path) as handle:
        for row in csv.DictReader(handle):
            epoch = int(row.pop("epoch"))
            rows += [(prefix + key, float(value), timestamp, epoch) for key, value in row.items() if value != ""]
    return rows


def _test_metrics(test: dict) -> list[tuple]:
    """Test metrics at step 0, a post-hoc chain's prefixed by its name (``test_crm_top1_error``);
    MLflow's key alphabet spells '@' as '_at_' and '+' as '_'."""
    flat = {}
    for key, value in test.items():
        if isinstance(value, dict):
            flat.update({f"test_{key}_{name}": item for name, item in value.items()})
        elif key != "seed":
            flat[f"test_{key}"] = value
    timestamp = int(time.time() * 1000)
    return [
        (key.replace("@", "_at_").replace("+", "_"), float(value), timestamp, 0)
        for key, value in flat.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    ]


def import_report(files: list[str | Path], tracking_uri: str, experiment: str = "report") -> dict:
    """One MLflow run per report build, holding its tables and figures as artifacts."""
    from mlflow.tracking import MlflowClient

    from .runtime import git_commit

    db = _sqlite_path(tracking_uri)
    with writer_lock(tracking_uri):
        client = MlflowClient(tracking_uri)
        experiment_id = _experiment_id(client, experiment, db.parent / "mlflow-artifacts" if db else None)
        run = client.create_run(experiment_id, tags={"git_commit": git_commit(), "mlflow.runName": f"report {time.strftime('%Y-%m-%d %H:%M')}"})
        for path in map(Path, files):
            client.log_artifact(run.info.run_id, str(path), artifact_path=path.parent.name)
        client.set_terminated(run.info.run_id, "FINISHED")
    return {"run_id": run.info.run_id, "experiment": experiment, "files": len(files), "tracking_uri": tracking_uri}
