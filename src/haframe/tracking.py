"""Import finished run directories into MLflow: files are the truth, MLflow is the index.

One experiment per study (runs named ``dataset/variant/seed<n>``, the report's run beside
them). One writer at a time (an exclusive file lock beside a sqlite store), so a fresh store's
schema is created once and never raced. Identity = dataset/variant/seed + config hash:
re-importing the same identity replaces its run; a new config hash for the same
dataset/variant/seed tags the older runs ``superseded``. A run carries the training's real
start and end times and every epoch point the time its epoch ended.

Artifacts of a local (sqlite) store live in ``mlflow-artifacts/`` beside ``mlflow.db``, laid
out as MLflow's artifact proxy serves them (experiments record ``mlflow-artifacts:/<study>``,
not an absolute path), so ``results/`` can be moved and served from anywhere::

    mlflow ui --backend-store-uri sqlite:///results/mlflow.db --artifacts-destination results/mlflow-artifacts

What a tracking client cannot set is the runs table's default columns; the experiment gets a
shared view (MLflow's ``mlflow.sharedViewState.`` experiment tag, opened by the URL the
experiment's description gives) with the key test metrics and the variant, seed, method and
head params as columns, sorted by top-1 error.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from .fileio import read_json, read_yaml
from .runs import RunSpec, git_commit
from .sealed import read_metrics

IDENTITY_TAG = "haframe.identity"
HASH_TAG = "haframe.config_hash"
SUPERSEDED_TAG = "haframe.superseded"
FAILURE_TAG = "haframe.failure"  # what failed, on a run whose directory failed after its import
KIND_TAG = "haframe.kind"  # "run", "pretrained" or "report"
VIEW_KEY = "haframe"  # the shared view: #/experiments/<id>/runs?viewStateShareKey=haframe
# MLflow 3's UI opens an experiment by its kind: without it, on the GenAI overview (traces, token
# costs), whose page drops the shared view; this one opens the runs table
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}
# MLflow orders a view's metric columns by name, so each one added pushes the test metrics right
VIEW_COLUMNS = (
    "params.`dataset`",
    "params.`variant`",
    "params.`seed`",
    "params.`method`",
    "params.`head`",
    "metrics.`test_top1_error`",
    "metrics.`test_mistake_severity`",
    "metrics.`test_ahd_at_1`",
    "metrics.`test_ahd_at_5`",
    "metrics.`test_hops`",
    "attributes.`Duration`",
)


def default_tracking_uri(results_dir: str | Path) -> str:
    """The study's own sqlite store. A relative ``results_dir`` stays relative (to the jobs'
    working directory), so a moved project does not import its runs again."""
    return f"sqlite:///{Path(results_dir).as_posix()}/mlflow.db"


def _sqlite_path(uri: str) -> Path | None:
    return Path(uri[len("sqlite:///") :]) if uri.startswith("sqlite:///") else None


@contextlib.contextmanager
def writer_lock(uri: str, lock_dir: str | Path) -> Iterator[None]:
    """One importer at a time: an exclusive lock beside a local sqlite store, or, for a tracking
    server, in ``lock_dir`` (the results folder: importers are local jobs of the submitting
    host, so they share it)."""
    db = _sqlite_path(uri)
    path = db.with_name(db.name + ".lock") if db else Path(lock_dir) / "mlflow-import.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
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


def _experiment_id(client, name: str, local: bool) -> str:
    """The study's experiment, created with its shared view (and, for a local store, the
    proxied artifact location ``mlflow-artifacts:/<name>``) the first time."""
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        try:
            client.create_experiment(name, artifact_location=f"mlflow-artifacts:/{name}" if local else None)
        except MlflowException as error:  # created meanwhile by an importer that holds no lock of ours
            if error.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        experiment = client.get_experiment_by_name(name)
    experiment_id = experiment.experiment_id
    view = {"selectedColumns": list(VIEW_COLUMNS), "orderByKey": "metrics.`test_top1_error`", "orderByAsc": True}
    tags = {
        **EXPERIMENT_KIND,
        f"mlflow.sharedViewState.{VIEW_KEY}": json.dumps(view),
        "mlflow.note.content": (
            f"Study {name}: one run per dataset/variant/seed (params, per-epoch metrics, test metrics as test_*, "
            f"the run's files as artifacts) and one per report build. The runs table with the key test metrics as "
            f"columns: #/experiments/{experiment_id}/runs?viewStateShareKey={VIEW_KEY}"
        ),
    }
    for key, value in tags.items():  # set where missing or older (an experiment made by an earlier version)
        if experiment.tags.get(key) != value:
            client.set_experiment_tag(experiment_id, key, value)
    return experiment_id


def _log_files(client, run, files: list[Path], db: Path | None, artifact_path: str | None = None) -> None:
    """The run's files as artifacts: through the client for a tracking server, else written
    into the local proxy layout ``<db dir>/mlflow-artifacts/<experiment>/<run id>/artifacts``."""
    uri = run.info.artifact_uri
    if db is None or not uri.startswith("mlflow-artifacts:/"):
        for path in files:
            client.log_artifact(run.info.run_id, str(path), artifact_path=artifact_path)
        return
    from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository

    repository = LocalArtifactRepository(str(db.parent / "mlflow-artifacts" / uri.removeprefix("mlflow-artifacts:/")))
    for path in files:
        repository.log_artifact(str(path), artifact_path=artifact_path)


def import_run(
    *,
    config: str | Path,
    history: str | Path,
    nc: str | Path,
    metrics: str | Path | None,
    scores: Sequence[str | Path],
    tracking_uri: str,
    experiment: str,
    lock_dir: str | Path = "results",
) -> dict:
    """Create (or replace) the MLflow run of one finished run from its ``config.yaml``,
    ``history.csv``, ``nc.csv``, ``metrics.json`` (None for an auxiliary model) and the
    ``scores`` files the study keeps. Its start and end are the training's (MLflow's Duration:
    the epochs' span, no queue wait or evaluation); the test metrics are stamped when evaluation
    wrote them, and ``evaluation_seconds`` is the time the model took to score the splits."""
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    saved = read_yaml(config)
    run, identity_hash, prov = RunSpec.from_dict(saved["run"]), saved["identity"], saved["provenance"]
    test = read_metrics(metrics) if metrics else {}
    identity = run.name
    db = _sqlite_path(tracking_uri)
    epochs = _epoch_times(Path(history))
    started = _ms(prov["started_at"])  # as the first epoch began
    finished = max(epochs.values()) if epochs else _ms(prov["finished_at"])  # as the last one ended

    with writer_lock(tracking_uri, lock_dir):
        client = MlflowClient(tracking_uri)
        experiment_id = _experiment_id(client, experiment, db is not None)
        previous = client.search_runs([experiment_id], filter_string=f"tags.`{IDENTITY_TAG}` = '{identity}'")
        for old in previous:
            if old.data.tags.get(HASH_TAG) == identity_hash:
                client.delete_run(old.info.run_id)  # a forced rerun replaces its run
            else:
                client.set_tag(old.info.run_id, SUPERSEDED_TAG, "true")
        tags = {
            IDENTITY_TAG: identity,
            HASH_TAG: identity_hash,
            KIND_TAG: "run",
            "dataset": run.dataset,
            "variant": run.variant,
            "seed": str(run.seed),
            "git_commit": prov["git_commit"],
            "host": prov["host"],
            "device": prov["device"],
            "torch": prov["torch"],
            "mlflow.runName": f"{run.dataset}/{run.variant}/seed{run.seed}",
        }
        created = client.create_run(experiment_id, start_time=started, tags=tags)
        run_id = created.info.run_id
        params = [
            Param(k, json.dumps(v) if not isinstance(v, str) else v) for k, v in flatten("", run.to_dict(), {}).items()
        ]
        evaluated = _ms(Path(metrics).stat().st_mtime) if metrics else finished  # written as evaluation ended
        points = (
            _epoch_metrics(Path(history), epochs)
            + _epoch_metrics(Path(nc), epochs, prefix="nc_")
            + _test_metrics(test, evaluated)
            + _evaluation_time(scores, evaluated)
        )
        for start in range(0, len(params), 100):  # MLflow's per-batch limits
            client.log_batch(run_id, params=params[start : start + 100])
        for start in range(0, len(points), 1000):
            client.log_batch(run_id, metrics=[Metric(*m) for m in points[start : start + 1000]])
        _log_files(client, created, [Path(p) for p in (config, history, nc, metrics) if p], db)
        client.set_terminated(run_id, "FINISHED", end_time=finished)  # MLflow's Duration: the training's own
    return {
        "run_id": run_id,
        "experiment": experiment,
        "identity": identity,
        "config_hash": identity_hash,
        "tracking_uri": tracking_uri,
    }


def import_classifier(
    *, metrics: str | Path, dataset: str, tracking_uri: str, experiment: str, lock_dir: str | Path = "results"
) -> dict:
    """Create (or replace) the MLflow run of one pretrained classifier's evaluation from its
    ``metrics.json`` (haframe.pretrained): its record as params, its metrics at step 0."""
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    from .models.classifiers import classifier

    result = read_json(metrics)
    record = classifier(result["model"])
    identity = f"{dataset}/pretrained/{record.weights}"
    db = _sqlite_path(tracking_uri)
    evaluated = _ms(Path(metrics).stat().st_mtime)
    with writer_lock(tracking_uri, lock_dir):
        client = MlflowClient(tracking_uri)
        experiment_id = _experiment_id(client, experiment, db is not None)
        for old in client.search_runs([experiment_id], filter_string=f"tags.`{IDENTITY_TAG}` = '{identity}'"):
            client.delete_run(old.info.run_id)  # its scores were made again
        tags = {IDENTITY_TAG: identity, KIND_TAG: "pretrained", "dataset": dataset, "mlflow.runName": identity}
        created = client.create_run(experiment_id, start_time=evaluated, tags=tags)
        run_id = created.info.run_id
        params = {
            "model": record.weights,
            "builder": record.builder,
            "preprocessing": record.preprocessing,
            "year": str(record.year),
            "published_top1": str(record.published_top1),
        }
        client.log_batch(run_id, params=[Param(key, value) for key, value in params.items()])
        client.log_batch(run_id, metrics=[Metric(*point) for point in _test_metrics(result, evaluated)])
        _log_files(client, created, [Path(metrics)], db)
        client.set_terminated(run_id, "FINISHED", end_time=evaluated)
    return {"run_id": run_id, "experiment": experiment, "identity": identity, "tracking_uri": tracking_uri}


def _evaluation_time(scores: Sequence[str | Path], timestamp: int) -> list[tuple]:
    """``evaluation_seconds``: the model's time to score every split, as any of the run's kept
    scores files recorded it (haframe.evaluate.Scores' record); none where no file is kept or
    the files were saved before the time was recorded."""
    import numpy as np

    for path in scores:
        with np.load(path, allow_pickle=False) as arrays:
            seconds = json.loads(str(arrays["record"])).get("seconds")
        if seconds:
            return [("evaluation_seconds", float(sum(seconds.values())), timestamp, 0)]
    return []


def _ms(seconds: float) -> int:
    return int(round(float(seconds) * 1000))


def _epoch_times(history: Path) -> dict[int, int]:
    """{epoch: when it ended, in ms} from history.csv's ``time`` column."""
    with open(history) as handle:
        return {int(row["epoch"]): _ms(row["time"]) for row in csv.DictReader(handle)}


def _epoch_metrics(path: Path, times: dict[int, int], prefix: str = "") -> list[tuple]:
    """(prefix + column, value, timestamp_ms, step) for every cell of a per-epoch CSV
    (history.csv, nc.csv); step = epoch, timestamp = when that epoch ended; empty cells (a
    statistic that does not apply) and the time column itself are left out."""
    rows = []
    with open(path) as handle:
        for row in csv.DictReader(handle):
            epoch = int(row.pop("epoch"))
            row.pop("time", None)
            rows += [(prefix + key, float(value), times[epoch], epoch) for key, value in row.items() if value != ""]
    return rows


def _test_metrics(test: dict, timestamp: int) -> list[tuple]:
    """Test metrics at step 0, a post-hoc chain's prefixed by its name (``test_crm_top1_error``),
    a trial's validation metrics at its checkpoint as ``checkpoint_val_...`` (``val_...`` are the
    per-epoch curves; its trial record is among the params); MLflow's key alphabet spells '@' as
    '_at_' and '+' as '_'."""
    flat = {}
    for split, metrics in (("test", test), ("checkpoint_val", test.get("val") or {})):
        for key, value in metrics.items():
            if isinstance(value, dict) and key not in ("val", "trial", "integrity"):  # a chain's, or the control's
                flat.update({f"{split}_{key}_{name}": item for name, item in value.items() if name != "seed"})
            elif key != "seed":
                flat[f"{split}_{key}"] = value
    return [
        (key.replace("@", "_at_").replace("+", "_"), float(value), timestamp, 0)
        for key, value in flat.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    ]


def import_report(
    files: list[str | Path],
    tracking_uri: str,
    experiment: str,
    failed: Mapping[str, dict] | None = None,
    lock_dir: str | Path = "results",
) -> dict:
    """One MLflow run per report build in the study's experiment, holding its tables and
    figures as artifacts. ``failed``: {run name: failure record} of the runs the report left out
    as failed; a run of theirs that MLflow holds as FINISHED (imported before a later stage
    failed) is marked FAILED, with the failure as its ``haframe.failure`` tag."""
    from mlflow.tracking import MlflowClient

    db = _sqlite_path(tracking_uri)
    with writer_lock(tracking_uri, lock_dir):
        client = MlflowClient(tracking_uri)
        experiment_id = _experiment_id(client, experiment, db is not None)
        for identity, record in (failed or {}).items():
            for old in client.search_runs([experiment_id], filter_string=f"tags.`{IDENTITY_TAG}` = '{identity}'"):
                if old.info.status == "FINISHED" and old.data.tags.get(SUPERSEDED_TAG) != "true":
                    client.set_tag(old.info.run_id, FAILURE_TAG, f"{record['stage']}: {record['error']}"[:5000])
                    client.set_terminated(old.info.run_id, "FAILED")
        run = client.create_run(
            experiment_id,
            tags={
                "git_commit": git_commit(),
                KIND_TAG: "report",
                "mlflow.runName": f"report {time.strftime('%Y-%m-%d %H:%M')}",
            },
        )
        by_folder: dict[str, list[Path]] = {}
        for path in map(Path, files):
            by_folder.setdefault(path.parent.name, []).append(path)
        for folder, paths in by_folder.items():
            _log_files(client, run, paths, db, artifact_path=folder)
        client.set_terminated(run.info.run_id, "FINISHED")
    return {"run_id": run.info.run_id, "experiment": experiment, "files": len(files), "tracking_uri": tracking_uri}
