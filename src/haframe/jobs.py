"""The compiled study: every job the workflow runs, with its resolved parameters and files.

``Study.compile`` builds a ``JobTable`` from the config; the workflow's rules only read it
(``workflow/rules/common.smk``), ``python -m haframe.study jobs`` prints it, and tests assert on it
without launching Snakemake. A job is named as Snakemake names it: its rule and wildcards.
Torch-free.
"""

from __future__ import annotations

import dataclasses
import json
import types
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .assets import FRAME_FILES, HIERARCHY_FILES
from .cost import training_runtime
from .evaluate import SCORE_SPLITS
from .fileio import sha256_of
from .identity import (
    Untracked,
    data_options,
    data_params,
    evaluation_record,
    training_params,
    training_record,
)
from .methods import posthoc_chain
from .models.classifiers import CLASSIFIERS
from .models.records import WEIGHTS
from .runs import RunSpec

if TYPE_CHECKING:
    from .study import Study

REPORT_FIGURES = (
    "error_vs_severity",
    "fronts",
    "ahd_at_k",
    "training_curves",
    "neural_collapse",
    "mistake_distances",
)
# the params Snakemake recorded for the job that wrote a file (their reprs), None when none:
# haframe.identity keeps a finished job's while they mean the same (an upgrade reruns nothing)
Recorded = Callable[[str], Sequence[str] | None]
RUN_FILES = {
    "checkpoint": "checkpoint.pt",
    "history": "history.csv",
    "nc": "nc.csv",
    "config": "config.yaml",
    "scores_val": "scores/val.npz",
    "scores_test": "scores/test.npz",
    "metrics": "metrics.json",
    "predictions": "predictions.npz",
    "mlflow": "mlflow.json",
}


@dataclass(frozen=True)
class Layout:
    """Where a study's files live. Each method gives a file's path, or with the default
    arguments the rule's Snakemake pattern ({dataset}, {variant}, {seed} left as wildcards)."""

    results: str  # results/<study>
    data_root: str
    tuned: bool = False  # the tuned protocol: each dataset's report adds its trial and selection tables

    def dataset_dir(self, dataset: str = "{dataset}") -> str:
        return f"{self.results}/{dataset}"

    def run_dir(self, dataset: str = "{dataset}", variant: str = "{variant}", seed: int | str = "{seed}") -> str:
        return f"{self.results}/{dataset}/runs/{variant}/seed{seed}"

    def run_file(self, name: str, run: RunSpec | None = None) -> str:
        """A run's file by its key in RUN_FILES (``run`` None: the pattern)."""
        directory = self.run_dir(run.dataset, run.variant, run.seed) if run else self.run_dir()
        return f"{directory}/{RUN_FILES[name]}"

    def chain_file(self, suffix: str, run: RunSpec | None = None, chain: str = "{chain}") -> str:
        """A post-hoc chain's metrics (``json``) or test ranking (``npz``) of a run."""
        directory = self.run_dir(run.dataset, run.variant, run.seed) if run else self.run_dir()
        return f"{directory}/posthoc/{chain}.{suffix}"

    def hierarchy_file(self, name: str, dataset: str = "{dataset}") -> str:
        return f"{self.results}/{dataset}/hierarchy/{HIERARCHY_FILES[name]}"

    def frame_file(self, name: str, dataset: str = "{dataset}") -> str:
        return f"{self.results}/{dataset}/frames/{FRAME_FILES[name]}"

    def data_file(self, name: str, dataset: str = "{dataset}") -> str:
        """The prepared dataset's ``meta.json``, ``classes.txt`` (and a planted ``hierarchy.tsv``)."""
        return f"{self.results}/{dataset}/data/{name}"

    @property
    def report_dir(self) -> str:
        return f"{self.results}/report"

    @property
    def lock_file(self) -> str:
        return f"{self.data_root}/downloads.lock.yaml"

    def dataset_report(self, dataset: str = "{dataset}") -> dict[str, str]:
        """A dataset's tables and figures by the names its report rule and script use: the main
        and hierarchy tables (``md``, ``hierarchy_md``, ...), each figure as png and svg."""
        tables = {
            f"{prefix}{suffix}": f"{self.report_dir}/tables/{name}.{suffix}"
            for prefix, name in (("", dataset), ("hierarchy_", f"{dataset}_hierarchy"))
            for suffix in ("html", "md", "tex", "csv")
        }
        named = [("dominance", "fronts")] + ([("trials", "trials"), ("selection", "selection")] if self.tuned else [])
        tables |= {
            f"{key}_{suffix}": f"{self.report_dir}/tables/{dataset}_{name}.{suffix}"
            for key, name in named
            for suffix in ("html", "md", "csv")
        }
        figures = {
            f"{figure}{key}": f"{self.report_dir}/figures/{dataset}_{figure}.{suffix}"
            for key, suffix in (("", "png"), ("_svg", "svg"))
            for figure in REPORT_FIGURES
        }
        return {**tables, **figures}

    def study_report(self) -> dict[str, str]:
        """The study's tables by the names its report rule and script use (``ablation_md``, ...)."""
        suffixes = {
            "ablation": ("html", "md", "tex", "csv"),
            "summary": ("html", "md", "tex", "csv"),
            "scorecard": ("html", "md", "csv"),
        }
        return {
            f"{name}_{suffix}": f"{self.report_dir}/tables/{name}.{suffix}"
            for name, kinds in suffixes.items()
            for suffix in kinds
        }

    def pretrained_file(self, name: str, dataset: str = "{dataset}", model: str = "{model}") -> str:
        """A pretrained classifier's ``scores`` (its test scores), ``metrics`` or ``mlflow`` file."""
        files = {"scores": "scores/test.npz", "metrics": "metrics.json", "mlflow": "mlflow.json"}
        return f"{self.dataset_dir(dataset)}/pretrained/{model}/{files[name]}"

    def pretrained_report(self) -> dict[str, str]:
        """The pretrained classifiers' table (md, csv) and figure (png, svg)."""
        folder = f"{self.report_dir}/pretrained"
        return {
            "md": f"{folder}/classifiers.md",
            "csv": f"{folder}/classifiers.csv",
            "figure": f"{folder}/error_vs_severity.png",
            "figure_svg": f"{folder}/error_vs_severity.svg",
        }

    def report_files(self, datasets: Iterable[str]) -> list[str]:
        """Every table and figure of the report: per dataset, and for the study."""
        return [path for d in datasets for path in self.dataset_report(d).values()] + list(self.study_report().values())


@dataclass(frozen=True)
class Job:
    """One job: its rule and wildcards (how Snakemake names it), what it reads and writes, its
    resolved parameters and the resources it asks for."""

    rule: str
    wildcards: Mapping[str, str]
    inputs: Mapping[str, Any] = field(default_factory=dict)  # name -> path (or list of paths)
    outputs: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    resources: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("wildcards", "inputs", "params", "resources"):
            object.__setattr__(self, name, types.MappingProxyType(dict(getattr(self, name))))

    @property
    def key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        return job_key(self.rule, self.wildcards)

    def to_json(self) -> dict:
        """``rule``, ``dataset``, ``variant``, ``seed``, ``chain`` (when the job has them), ``params`` and
        ``outputs``, as ``python -m haframe.study jobs`` prints them."""
        record: dict[str, Any] = {"rule": self.rule}
        for name in ("dataset", "variant", "seed"):
            if name in self.wildcards:
                record[name] = int(self.wildcards[name]) if name == "seed" else self.wildcards[name]
        for name in ("chain", "filename"):
            if name in self.wildcards:
                record[name] = self.wildcards[name]
        return {**record, "params": _plain(self.params), "outputs": list(self.outputs)}


def job_key(rule: str, wildcards: Mapping[str, Any]) -> tuple[str, tuple[tuple[str, str], ...]]:
    return rule, tuple(sorted((str(k), str(v)) for k, v in wildcards.items()))


class JobTable:
    """The study's jobs, immutable, looked up by (rule, wildcards). ``targets`` are the files
    of a complete study; a job left out of them (a failed run) stays in the table, so that
    asking for one of its files by name still builds it."""

    def __init__(
        self,
        jobs: Iterable[Job],
        targets: Iterable[str],
        left_out: Mapping[str, str],
        instructions: Mapping[str, str] | None = None,
    ):
        self.jobs = tuple(jobs)
        self.targets = tuple(targets)
        self.left_out = types.MappingProxyType(dict(left_out))  # dataset -> why its data and run jobs are missing
        self._instructions = dict(instructions or {})  # dataset -> what the user must provide, in the kind's words
        self._index = {job.key: job for job in self.jobs}
        self._seen: dict[tuple, Job] = {}  # (rule, wildcards' items in the caller's order) -> job
        if len(self._index) != len(self.jobs):
            raise ValueError("two jobs of the table have the same rule and wildcards")

    def job(self, rule: str, wildcards: Mapping[str, Any]) -> Job:
        seen = (rule, tuple(wildcards.items()))  # as the caller gives them: Snakemake asks a job many times
        if seen in self._seen:
            return self._seen[seen]
        key = job_key(rule, wildcards)
        if key in self._index:
            self._seen[seen] = self._index[key]
            return self._index[key]
        dataset = dict(key[1]).get("dataset")
        if dataset in self.left_out:
            raise KeyError(
                self._instructions.get(dataset)
                or f"dataset {dataset!r} is left out of this run: {self.left_out[dataset]}"
            )
        raise KeyError(f"the study has no {rule} job with {dict(key[1])}")

    def of(self, rule: str) -> list[Job]:
        return [job for job in self.jobs if job.rule == rule]

    def scheduled(self) -> list[Job]:
        """The jobs that a complete study runs: those whose outputs the targets need."""
        producers = {output: job for job in self.jobs for output in job.outputs}
        needed, stack = {}, [path for path in self.targets if path in producers]
        while stack:
            job = producers[stack.pop()]
            if job.key in needed:
                continue
            needed[job.key] = job
            stack += [path for value in job.inputs.values() for path in _paths(value) if path in producers]
        return [job for job in self.jobs if job.key in needed]

    def json_lines(self) -> str:
        return "".join(json.dumps(job.to_json(), sort_keys=False) + "\n" for job in self.scheduled())


def compile_jobs(study: Study, layout: Layout, failed: Mapping[str, dict], settings: Mapping[str, Any]) -> JobTable:
    """The job table of ``study``. ``failed``: {run directory: failure record} of runs that
    failed before (left out of the targets); ``settings``: the download helper's retry budget
    and timeout, the MLflow tracking URI and the report's reference files."""

    unavailable = study.unavailable_datasets()
    available = [d for d in study.datasets if d not in unavailable]
    jobs: list[Job] = []
    for dataset in study.datasets:
        jobs += _hierarchy_jobs(study, layout, dataset, settings)
        jobs.append(_frame_job(study, layout, dataset))
    for dataset in available:
        jobs += _data_jobs(study, layout, dataset, settings)
        for run in study.training_runs(dataset):
            jobs += _run_jobs(study, layout, run, settings)
    jobs += _weights_jobs(study, layout, available, settings)
    reported = {
        d: [run for run in study.runs(d) if not _has_failed(study, layout, run, failed)]
        for d in available
        if study.variants(d)
    }
    if reported:
        jobs += _report_jobs(study, layout, reported, failed, unavailable, settings)
    targets = [layout.hierarchy_file("summary", d) for d in available] + [
        layout.frame_file("summary", d) for d in available
    ]
    if study.pretrained is not None and study.pretrained.dataset in available:
        jobs += _pretrained_jobs(study, layout, settings)
        targets += list(layout.pretrained_report().values())
        targets += [layout.pretrained_file("mlflow", study.pretrained.dataset, m) for m in study.pretrained.models]
    for dataset in available:
        targets += [
            layout.run_file("mlflow", run)
            for run in study.training_runs(dataset)
            if not _has_failed(study, layout, run, failed)
        ]
    if reported:
        targets += layout.report_files(reported) + [f"{layout.report_dir}/mlflow.json"]
    return JobTable(_unique(jobs), targets, unavailable, {d: _instructions(study, d) for d in unavailable})


def _instructions(study: Study, dataset: str) -> str | None:
    """What the user must provide for a left-out dataset, as its kind says it (None: no words)."""
    from .data.prepared import DataError

    kind = study.kind(dataset)
    try:
        kind.user_inputs(study.dataset(dataset), dataset) if kind.user_inputs else None
    except DataError as error:
        return str(error)
    return None


def _has_failed(study: Study, layout: Layout, run: RunSpec, failed: Mapping[str, dict]) -> bool:
    """The run, or an auxiliary model its post-hoc rules need, failed before."""
    return any(
        layout.run_dir(r.dataset, r.variant, r.seed) in failed for r in (run, *study.auxiliary_runs_of(run).values())
    )


def failed_runs(study: Study, layout: Layout, failed: Mapping[str, dict]) -> dict[str, dict]:
    """{dataset/variant/seedN: failure record} of the reported runs left out (the report lists them)."""
    unavailable = study.unavailable_datasets()
    return {
        run.name: failed.get(layout.run_dir(run.dataset, run.variant, run.seed))
        or {"stage": "auxiliary", "error": "an auxiliary model it needs failed"}
        for dataset in study.datasets
        if dataset not in unavailable
        for run in study.runs(dataset)
        if _has_failed(study, layout, run, failed)
    }


def kept_params(study: Study, job: Job, recorded: Recorded) -> Mapping[str, Any]:
    """The job's params, where its finished job was recorded by Snakemake with params that mean
    the same (a study finished by an earlier version of the workflow) with those kept, so that an
    upgrade reruns nothing that would come out the same (haframe.identity). ``recorded``: the
    reprs Snakemake recorded for the job that wrote a file, None when none; it is asked only
    when the workflow runs (Snakemake's records are read as the DAG is built)."""
    if job.rule not in ("train", "prepare_synthetic", "prepare_dataset"):
        return job.params
    record = recorded(job.outputs[0])
    if record is None:  # not run yet: the table's params as they are
        return job.params
    if job.rule == "train":
        run = study.run(job.wildcards["dataset"], job.wildcards["variant"], int(job.wildcards["seed"]))
        return {**job.params, "identity": training_params(run, record)}
    dataset = job.wildcards["dataset"]
    return {**job.params, "options": data_params(study.dataset(dataset), study.kind(dataset).options, record)}


# ---------------------------------------------------------------------- data


def _download_params(settings: Mapping[str, Any], layout: Layout) -> dict:
    return {"lock_file": layout.lock_file, "retry_seconds": settings["retry_seconds"], "timeout": settings["timeout"]}


def _data_jobs(study: Study, layout: Layout, dataset: str, settings: Mapping[str, Any]) -> list[Job]:
    kind, section = study.kind(dataset), study.dataset(dataset)
    sources = kind.sources_for(section.get("sources"))
    jobs, extracted, downloads = [], {}, []
    for key, source in sources.items():
        download = f"{layout.data_root}/downloads/{dataset}/{source.filename}"
        wildcards = {"dataset": dataset, "filename": source.filename}
        jobs.append(
            Job(
                "download_source",
                wildcards,
                outputs=(download,),
                resources={"disk_mb": source.disk_mb},
                params={
                    "source": source.url,
                    "sha256": source.sha256,
                    "md5": source.md5,
                    "lock_source": key,
                    **_download_params(settings, layout),
                },
            )
        )
        extracted[key] = f"{layout.data_root}/extracted/{dataset}/{source.filename}.d"
        jobs.append(
            Job(
                "extract_source",
                wildcards,
                inputs={"archive": download},
                outputs=(extracted[key],),
                resources={"disk_mb": 2 * source.disk_mb},
            )
        )
        downloads.append(download)
    resources = {"threads": kind.threads, "mem_mb": kind.mem_mb, "runtime": kind.runtime_min}
    meta = layout.data_file("meta.json", dataset)
    params = {"kind": kind.name, "options": data_options(section, kind.options)}
    outputs = (meta, layout.data_file("classes.txt", dataset))
    if study.plants_hierarchy(dataset):
        jobs.append(
            Job(
                "prepare_synthetic",
                {"dataset": dataset},
                outputs=(*outputs, layout.data_file("hierarchy.tsv", dataset)),
                params=params,
                resources=resources,
            )
        )
    else:
        inputs = {
            **extracted,
            **(kind.user_inputs(section, dataset) if kind.user_inputs else {}),
            "hierarchy": layout.hierarchy_file("tsv", dataset),
        }
        jobs.append(
            Job(
                "prepare_dataset",
                {"dataset": dataset},
                inputs=inputs,
                outputs=outputs,
                params={**params, "downloads": downloads},
                resources={**resources, "disk_mb": round(study.prepared_disk_mb(dataset))},
            )
        )
    return jobs


def hierarchy_spec(study: Study, dataset: str) -> dict:
    """Where a dataset's hierarchy comes from: its ``hierarchy`` section, or the data stage."""
    spec = study.dataset(dataset).get("hierarchy")
    if spec is None:  # planted by the data stage (synthetic)
        return {"source": None, "sha256": None, "format": "tsv", "class_order": "sorted"}
    return {"sha256": None, "class_order": "sorted", **spec}


def local_path(source: str) -> Path | None:
    """The file a hierarchy or download source names on this machine (a path or a file:// URL);
    None for an http(s) URL."""
    parsed = urllib.parse.urlparse(source)
    if parsed.scheme in ("http", "https"):
        return None
    return Path(urllib.request.url2pathname(parsed.path)) if parsed.scheme == "file" else Path(source)


def _hierarchy_jobs(study: Study, layout: Layout, dataset: str, settings: Mapping[str, Any]) -> list[Job]:
    """A downloaded hierarchy is fetched (and pinned) first; a local file is read where it is,
    identified by its content: its sha256 is the parse job's param, so an edit reruns the
    parse and what follows, and a touch or a copy reruns nothing (it is not pinned either)."""
    spec, section = hierarchy_spec(study, dataset), study.dataset(dataset)
    jobs, local = [], None
    if spec["source"] is None:
        inputs = {
            "hierarchy": layout.data_file("hierarchy.tsv", dataset),
            "classes": layout.data_file("classes.txt", dataset),
        }
    elif (path := local_path(spec["source"])) is not None:
        inputs = {}
        # where the file is not visible (a cluster job re-reading the workflow), the parse job,
        # a local rule, is not the one running: its param is only read on the submitting host
        local = {"path": str(path), "sha256": sha256_of(path) if path.is_file() else None}
    else:
        filename = Path(urllib.parse.urlparse(spec["source"]).path).name
        inputs = {"hierarchy": f"{layout.dataset_dir(dataset)}/hierarchy/source/{filename}"}
        jobs.append(
            Job(
                "download_hierarchy",
                {"dataset": dataset, "filename": filename},
                outputs=(inputs["hierarchy"],),
                params={
                    "source": spec["source"],
                    "sha256": spec["sha256"],
                    "lock_source": "hierarchy",
                    **_download_params(settings, layout),
                },
            )
        )
    params = {
        "format": spec["format"],
        "class_order": spec["class_order"],
        "expected": {"classes": section.get("classes"), "height": section.get("height")},
        # Snakemake records no Untracked param: a planted or downloaded hierarchy's parse,
        # finished before this param existed, stays as recorded
        "local": local or Untracked({}),
    }
    outputs = tuple(layout.hierarchy_file(name, dataset) for name in HIERARCHY_FILES)
    return [*jobs, Job("parse_hierarchy", {"dataset": dataset}, inputs=inputs, outputs=outputs, params=params)]


def _frame_job(study: Study, layout: Layout, dataset: str) -> Job:
    frame = study.dataset(dataset)["frame"]
    return Job(
        "solve_frame",
        {"dataset": dataset},
        inputs={
            "hierarchy": layout.hierarchy_file("tsv", dataset),
            "distances": layout.hierarchy_file("distances", dataset),
        },
        outputs=tuple(layout.frame_file(name, dataset) for name in FRAME_FILES),
        params={"gamma": frame["gamma"], "solver": frame["solver"]},
    )


def _weights_jobs(study: Study, layout: Layout, datasets: list[str], settings: Mapping[str, Any]) -> list[Job]:
    names = sorted(
        {run.training.pretrained for d in datasets for run in study.training_runs(d) if run.training.pretrained}
    )
    return [
        Job(
            "download_weights",
            {"filename": WEIGHTS[name].filename},
            outputs=(weights_file(layout, name),),
            params={
                "source": WEIGHTS[name].url,
                "sha256_prefix": WEIGHTS[name].sha256_prefix,
                "name": name,
                "format": WEIGHTS[name].format,
                **_download_params(settings, layout),
            },
        )
        for name in names
    ]


def weights_file(layout: Layout, name: str) -> str:
    return f"{layout.data_root}/weights/{WEIGHTS[name].filename}"


# ---------------------------------------------------------------------- runs


def run_assets(layout: Layout, dataset: str) -> dict[str, str]:
    """The hierarchy and frame files a run reads (``RunAssets.load``'s arguments)."""
    return {
        "hierarchy": layout.hierarchy_file("tsv", dataset),
        "distances": layout.hierarchy_file("distances", dataset),
        "levels": layout.hierarchy_file("levels", dataset),
        "haframe": layout.frame_file("haframe", dataset),
        "etf": layout.frame_file("etf", dataset),
    }


def _run_jobs(study: Study, layout: Layout, run: RunSpec, settings: Mapping[str, Any]) -> list[Job]:
    """A run's jobs: train; evaluate (the one that loads the model: its validation and test
    scores, an auxiliary model's too); for a variant, one posthoc job per post-hoc chain and
    assemble_metrics, which read the saved scores only; import. The train job's ``identity`` is
    what determines the weights (its rerun trigger); ``run``, the whole RunSpec it trains and
    records, is Untracked (haframe.identity)."""
    wildcards = {"dataset": run.dataset, "variant": run.variant, "seed": str(run.seed)}
    training = run.training
    resources = {"threads": training.threads + training.workers, "gpu": 0 if training.device == "cpu" else 1}
    runtime = training_runtime(run, study.split_sizes(run.dataset), settings["throughput"])
    assets = run_assets(layout, run.dataset)
    meta = layout.data_file("meta.json", run.dataset)
    weights = {"weights": weights_file(layout, training.pretrained)} if training.pretrained else {}
    scores = {f"scores_{split}": layout.run_file(f"scores_{split}", run) for split in SCORE_SPLITS}
    jobs = [
        Job(
            "train",
            wildcards,
            inputs={**weights, **assets, "meta": meta},
            outputs=tuple(layout.run_file(name, run) for name in ("checkpoint", "history", "nc", "config")),
            params={
                "identity": training_record(run),
                "run": Untracked(run.to_dict()),
                "resume_dir": f"{layout.run_dir(run.dataset, run.variant, run.seed)}/resume",
            },
            resources={**resources, "runtime": runtime},
        ),
        Job(
            "evaluate_trial" if run.trial else "evaluate",  # a trial keeps its test scores only until used
            wildcards,
            inputs={**assets, "checkpoint": layout.run_file("checkpoint", run), "meta": meta},
            outputs=tuple(scores.values()),
            resources=resources,
            params={"evaluation": evaluation_record(run)},
        ),
    ]
    tracked = {name: layout.run_file(name, run) for name in ("config", "history", "nc")}
    tracked |= {f"scores_{split}": scores[f"scores_{split}"] for split in study.kept_scores(bool(run.trial))}
    if run.variant in study.config["variants"]:
        jobs += _scoring_jobs(study, layout, run, scores)
        tracked["metrics"] = layout.run_file("metrics", run)
    jobs.append(
        Job(
            "import_run",
            wildcards,
            inputs=tracked,
            outputs=(layout.run_file("mlflow", run),),
            params={"tracking_uri": settings["tracking_uri"], "experiment": study.name},
        )
    )
    return jobs


def _scoring_jobs(study: Study, layout: Layout, run: RunSpec, scores: Mapping[str, str]) -> list[Job]:
    """A variant's posthoc job per chain and its assemble_metrics job (CPU, one thread: they
    read saved scores)."""
    wildcards = {"dataset": run.dataset, "variant": run.variant, "seed": str(run.seed)}
    assets = run_assets(layout, run.dataset)
    light = {"threads": 1, "gpu": 0}
    auxiliary_runs = study.auxiliary_runs_of(run)
    jobs, chains = [], {}
    for chain in run.posthoc:
        helpers = {rule.auxiliary.name for rule in posthoc_chain(chain) if rule.auxiliary}
        helper_scores = {
            f"auxiliary_{name}_{split}": layout.run_file(f"scores_{split}", auxiliary_runs[name])
            for name in sorted(helpers)
            for split in SCORE_SPLITS
        }
        chains[chain] = (layout.chain_file("json", run, chain), layout.chain_file("npz", run, chain))
        jobs.append(
            Job(
                "posthoc",
                {**wildcards, "chain": chain},
                inputs={**assets, **scores, **helper_scores},
                outputs=chains[chain],
                resources=light,
            )
        )
    chain_inputs = {
        f"chain_{i}_{suffix}": path
        for i, files in enumerate(chains.values())
        for suffix, path in zip(("json", "npz"), files)
    }
    jobs.append(
        Job(
            "assemble_metrics",
            wildcards,
            inputs={**assets, **scores, **chain_inputs},
            outputs=(layout.run_file("metrics", run), layout.run_file("predictions", run)),
            resources=light,
            params={"chains": list(run.posthoc)},
        )
    )
    return jobs


# ---------------------------------------------------------------------- pretrained classifiers


def _pretrained_jobs(study: Study, layout: Layout, settings: Mapping[str, Any]) -> list[Job]:
    """Per pretrained classifier: its weights' download, its scoring (the one job that loads
    it: its test scores), its metrics from those scores; then their report."""
    section = study.pretrained
    dataset = section.dataset
    jobs, metrics = [], []
    for model in section.models:
        record = CLASSIFIERS[model]
        source, sha256, prefix = section.weights_source(model)
        filename = (
            record.filename if sha256 is None else f"{record.builder}-{sha256[:8]}.pth"
        )  # named as torchvision names its files
        weights = f"{layout.data_root}/weights/classifiers/{filename}"
        scores = layout.pretrained_file("scores", dataset, model)
        wildcards = {"dataset": dataset, "model": model}
        metrics.append(layout.pretrained_file("metrics", dataset, model))
        jobs += [
            Job(
                "download_classifier",
                {"filename": filename},
                outputs=(weights,),
                params={
                    "source": source,
                    "sha256": sha256,
                    "sha256_prefix": prefix,
                    **_download_params(settings, layout),
                },
            ),
            Job(
                "score_classifier",
                wildcards,
                inputs={"weights": weights, "meta": layout.data_file("meta.json", dataset)},
                outputs=(scores,),
                params={
                    "model": model,
                    "evaluation": {"batch_size": section.batch_size, "device": section.device},
                    "workers": Untracked({"workers": section.workers}),  # the scores do not depend on them
                },
                resources={"threads": section.workers + 1, "gpu": 0 if section.device == "cpu" else 1},
            ),
            Job(
                "classifier_metrics",
                wildcards,
                inputs={"scores": scores, "hierarchy": layout.hierarchy_file("tsv", dataset)},
                outputs=(metrics[-1],),
                params={"posthoc": list(section.posthoc)},
                resources={"threads": 1, "gpu": 0},
            ),
            Job(
                "import_classifier",
                wildcards,
                inputs={"metrics": metrics[-1]},
                outputs=(layout.pretrained_file("mlflow", dataset, model),),
                params={"tracking_uri": settings["tracking_uri"], "experiment": study.name},
            ),
        ]
    jobs.append(
        Job(
            "report_classifiers",
            {},
            inputs={"metrics": metrics},
            outputs=tuple(layout.pretrained_report().values()),
            params={"models": list(section.models), "posthoc": list(section.posthoc)},
        )
    )
    return jobs


# ---------------------------------------------------------------------- report


def study_series(study: Study) -> list[str]:
    """Every variant and post-hoc chain of the study, in config order (one colour each)."""
    return [
        name
        for variant, spec in study.config["variants"].items()
        for name in [variant, *(f"{variant}+{chain}" for chain in spec.get("posthoc") or [])]
    ]


def _report_jobs(
    study: Study,
    layout: Layout,
    reported: Mapping[str, list[RunSpec]],
    failed: Mapping[str, dict],
    unavailable: Mapping[str, str],
    settings: Mapping[str, Any],
) -> list[Job]:
    report, jobs = layout.report_dir, []
    failures = failed_runs(study, layout, failed)
    # the tuned protocol's settings (the report selects each repetition's trial), None: published
    tuning = (
        {**dataclasses.asdict(study.protocol), "recipe": list(study.protocol.recipe)} if study.protocol.tuned else None
    )
    for dataset, runs in reported.items():
        files = {
            name: [layout.run_file(key, run) for run in runs]
            for name, key in (
                ("metrics", "metrics"),
                ("predictions", "predictions"),
                ("histories", "history"),
                ("collapse", "nc"),
            )
        }
        jobs.append(
            Job(
                "report_dataset",
                {"dataset": dataset},
                inputs={**files, "distances": layout.hierarchy_file("distances", dataset)},
                outputs=tuple(layout.dataset_report(dataset).values()),
                params={
                    "variants": study.variants(dataset),
                    "figures": REPORT_FIGURES,
                    "series": study_series(study),
                    "primary_metrics": list(study.config["report"]["primary_metrics"]),
                    "tuning": tuning,
                    "bootstrap": study.config["report"]["bootstrap"],
                    "method_notes": _method_notes(study, dataset),
                    "failed_runs": {
                        name: record for name, record in failures.items() if name.startswith(f"{dataset}/")
                    },
                },
            )
        )
    jobs.append(
        Job(
            "report_study",
            {},
            inputs={
                "metrics": [layout.run_file("metrics", r) for runs in reported.values() for r in runs],
                "reference": settings["reference_results"],
                "notes": settings["reference_notes"],
            },
            outputs=tuple(layout.study_report().values()),
            params={
                "variants": {d: study.variants(d) for d in reported},
                "not_run": {"datasets": dict(unavailable), "runs": failures},
                "primary_metrics": list(study.config["report"]["primary_metrics"]),
                "tuning": tuning,
            },
        )
    )
    jobs.append(
        Job(
            "import_report",
            {},
            inputs={"files": layout.report_files(reported)},
            outputs=(f"{report}/mlflow.json",),
            params={
                "tracking_uri": settings["tracking_uri"],
                "experiment": study.name,
                "failed_runs": {name: dict(record) for name, record in sorted(failures.items())},
            },
        )
    )
    return jobs


def _method_notes(study: Study, dataset: str) -> dict[str, str]:
    """{variant: its method's note on the variant's values} where the method has one."""
    from .methods import get_method

    notes = {}
    for variant in study.variants(dataset):
        run = study.run(dataset, variant, study.seeds(dataset, variant)[0])
        note = get_method(run.method).report_note(run.params)
        if note:
            notes[variant] = note
    return notes


# ---------------------------------------------------------------------- helpers


def _unique(jobs: list[Job]) -> list[Job]:
    """Jobs in order, a job asked for twice (a download two datasets share) kept once."""
    return list({job.key: job for job in jobs}.values())


def _paths(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [path for item in value or () for path in _paths(item)] if isinstance(value, (list, tuple)) else []


def _plain(value: Any) -> Any:
    """JSON-ready: mappings as dicts, tuples as lists."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
