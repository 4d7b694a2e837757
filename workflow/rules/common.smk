# The study, paths and named input functions every rule file uses.
import atexit
import sys
from pathlib import Path
import urllib.parse

from snakemake.io import IOFile
from snakemake.logging import logger

from haframe.assets import FRAME_FILES, HIERARCHY_FILES
from haframe.data.prepared import DataError
from haframe.identity import (
    Untracked,
    data_params,
    evaluation_params,
    training_params,
)
from haframe.models.weights import WEIGHTS
from haframe.run_status import failures
from haframe.runs import ConfigError
from haframe.study import Study
from haframe.summary import study_summary
from haframe.tracking import default_tracking_uri

try:
    STUDY = Study(config)
    # the files the config names (local hierarchies, sources) are checked where the jobs are
    # submitted: a cluster job re-reading this file need not see them
    if workflow.is_main_process:
        STUDY.check_local_files()
except ConfigError as error:
    raise WorkflowError(f"invalid configuration: {error}") from None

# Datasets whose user inputs are unset (ImageNet for tieredImageNet-H) are left out of the
# default target, with a warning; asking for one of their files explicitly still fails with
# the kind's instructions. Inputs that are set but wrong stop the DAG build here.
UNAVAILABLE = STUDY.unavailable_datasets()
DATASETS = [dataset for dataset in STUDY.datasets if dataset not in UNAVAILABLE]
for _dataset in DATASETS:
    _kind = STUDY.kind(_dataset)
    if _kind.user_inputs is not None:
        try:
            _kind.user_inputs(STUDY.dataset(_dataset), _dataset)
        except DataError as error:
            raise WorkflowError(str(error)) from None

# Each rule's --sdm conda env, by need (envs/*.yaml say which rules and why); only
# ENV_TORCH carries torch.
ENV_DATA = "../../envs/data.yaml"  # downloads, extraction, hierarchy, frames
ENV_REPORT = "../../envs/report.yaml"  # tables and figures
ENV_TRACKING = "../../envs/tracking.yaml"  # MLflow imports
ENV_TORCH = "../../envs/torch.yaml"  # prepare, train, evaluate
DATA_ROOT = config["data_root"]
LOCK_FILE = f"{DATA_ROOT}/downloads.lock.yaml"
# measured training rates, for the dry run's GPU-hours (haframe.cost)
THROUGHPUT_TABLE = Path(workflow.basedir).parent / "bench" / "throughput.csv"
# the download helper's retry budget and socket timeout (its rules have no Snakemake retries)
DOWNLOAD_RETRY_SECONDS = config["downloads"]["retry_seconds"]
DOWNLOAD_TIMEOUT = config["downloads"]["timeout_seconds"]
TRACKING_URI = config["mlflow"]["tracking_uri"] or default_tracking_uri("results")
# one folder per study: studies never overwrite each other
RESULTS = f"results/{STUDY.name}"
DATASET_DIR = f"{RESULTS}/{{dataset}}"
REPORT_DIR = f"{RESULTS}/report"
RUN_DIR = f"{DATASET_DIR}/runs/{{variant}}/seed{{seed}}"


def run_dir(run):
    return RUN_DIR.format(dataset=run.dataset, variant=run.variant, seed=run.seed)


def recorded_params(path):
    """The params Snakemake recorded for the job that wrote ``path`` (their reprs; None:
    none): haframe.identity keeps them while they mean the same (an upgrade)."""
    return workflow.persistence.params(IOFile(path))


# Runs whose training or evaluation failed before (their failed.json, haframe.run_status):
# left out of the default target and of the report's inputs, listed by the report.
FAILED = failures(
    run_dir(run) for dataset in DATASETS for run in STUDY.training_runs(dataset)
)


def has_failed(run):
    """The run, or an auxiliary model its post-hoc rules need, failed before."""
    return run_dir(run) in FAILED or any(
        run_dir(aux) in FAILED for aux in STUDY.auxiliary_runs_of(run).values()
    )


if workflow.is_main_process:
    for _dataset, _reason in UNAVAILABLE.items():
        logger.warning(
            f"dataset {_dataset!r} is left out of this run: {_reason}. The report lists it as not run."
        )
    if FAILED:
        logger.warning(
            f"{len(FAILED)} run(s) failed before and are left out (the report lists them; "
            f"to retry one, delete its failed.json): {', '.join(sorted(FAILED))}"
        )

    _placeholders = [
        arg
        for arg in (
            getattr(workflow.resource_settings.default_resources, "args", None) or []
        )
        if "YOUR_" in arg
    ]
    _notes = []
    if _placeholders:
        _notes.append(
            f"the SLURM profile still has its placeholders ({', '.join(_placeholders)}): set "
            "slurm_partition and slurm_account in profiles/slurm/config.yaml (`sinfo -s`, "
            "`sacctmgr -n -s list user $USER format=account`) before submitting"
        )
    for _note in _notes:
        logger.warning(_note)

    def _print_dry_run_summary():
        if workflow.dryrun:
            print(file=sys.stderr)
            print(
                study_summary(STUDY, UNAVAILABLE, FAILED, THROUGHPUT_TABLE, _notes),
                file=sys.stderr,
            )

    atexit.register(_print_dry_run_summary)
FIGURES = (  # per dataset, REPORT_DIR/figures/{dataset}_{figure}.{png,svg}
    "error_vs_severity",
    "ahd_at_k",
    "training_curves",
    "neural_collapse",
    "mistake_distances",
)


wildcard_constraints:
    dataset="|".join(STUDY.datasets),
    variant="|".join([*config["variants"], *STUDY.auxiliary_variants()]),
    seed=r"\d+",


def hierarchy_file(name, dataset="{dataset}"):
    return f"{RESULTS}/{dataset}/hierarchy/{HIERARCHY_FILES[name]}"


def frame_file(name, dataset="{dataset}"):
    return f"{RESULTS}/{dataset}/frames/{FRAME_FILES[name]}"


def datasets_planting_hierarchy(plants=True):
    """A wildcard pattern: the datasets whose preparation plants their hierarchy (or, with
    ``plants=False``, that read one from their ``hierarchy`` source); matches nothing if none.
    """
    names = [d for d in STUDY.datasets if STUDY.plants_hierarchy(d) == plants]
    return "|".join(names) or "^$"


# ---------------------------------------------------------------------- downloads


def dataset_source_item(wildcards):
    """(key, source): the dataset's source whose file is ``wildcards.filename``."""
    kind = STUDY.kind(wildcards.dataset)
    for key, source in kind.sources_for(
        STUDY.dataset(wildcards.dataset).get("sources")
    ).items():
        if source.filename == wildcards.filename:
            return key, source
    raise WorkflowError(
        f"dataset {wildcards.dataset!r} has no source file {wildcards.filename!r}"
    )


def dataset_source(wildcards):
    return dataset_source_item(wildcards)[1]


def source_key(wildcards):
    """The source's key in its kind (its pin's name in the lock file)."""
    return dataset_source_item(wildcards)[0]


def source_url(wildcards):
    return dataset_source(wildcards).url


def source_sha256(wildcards):
    return dataset_source(wildcards).sha256


def source_md5(wildcards):
    return dataset_source(wildcards).md5


def source_disk_mb(wildcards):
    return dataset_source(wildcards).disk_mb


def extraction_disk_mb(wildcards):
    return 2 * dataset_source(wildcards).disk_mb


def weights_spec(wildcards):
    for spec in WEIGHTS.values():
        if spec.filename == wildcards.filename:
            return spec
    raise WorkflowError(f"no known weights file {wildcards.filename!r}")


def weights_url(wildcards):
    return weights_spec(wildcards).url


def weights_sha256_prefix(wildcards):
    return weights_spec(wildcards).sha256_prefix


def weights_name(wildcards):
    """The weights' key in WEIGHTS (their pin's name in the lock file, under ``weights``)."""
    return next(
        name for name, spec in WEIGHTS.items() if spec.filename == wildcards.filename
    )


def weights_format(wildcards):
    return weights_spec(wildcards).format


# ---------------------------------------------------------------------- data


def prepare_inputs(wildcards):
    """Extracted sources and the user's inputs of a dataset, by the keys its kind reads; stops
    the DAG build with the kind's instructions when a user input is missing (only when the
    dataset's preparation is needed)."""
    from haframe.data.prepared import DataError

    dataset = wildcards.dataset
    kind = STUDY.kind(dataset)
    inputs = {
        key: f"{DATA_ROOT}/extracted/{dataset}/{source.filename}.d"
        for key, source in kind.sources_for(
            STUDY.dataset(dataset).get("sources")
        ).items()
    }
    if kind.user_inputs is not None:
        try:
            inputs.update(kind.user_inputs(STUDY.dataset(dataset), dataset))
        except DataError as error:
            raise WorkflowError(str(error)) from None
    return inputs


def prepare_downloads(wildcards):
    """The dataset's downloads: the preparation pins those not pinned yet once it succeeded."""
    dataset = wildcards.dataset
    return [
        f"{DATA_ROOT}/downloads/{dataset}/{source.filename}"
        for source in STUDY.kind(dataset)
        .sources_for(STUDY.dataset(dataset).get("sources"))
        .values()
    ]


def dataset_options(wildcards):
    """The keys of the dataset's section that its preparation reads, keys sorted."""
    dataset = wildcards.dataset
    return data_params(
        STUDY.dataset(dataset),
        STUDY.kind(dataset).options,
        recorded_params(f"{RESULTS}/{dataset}/data/meta.json"),
    )


def dataset_kind(wildcards):
    return STUDY.kind(wildcards.dataset).name


def prepare_threads(wildcards):
    return STUDY.kind(wildcards.dataset).threads


def prepare_mem_mb(wildcards):
    return STUDY.kind(wildcards.dataset).mem_mb


def prepare_runtime(wildcards):
    return STUDY.kind(wildcards.dataset).runtime_min


def prepare_disk_mb(wildcards):
    return round(STUDY.prepared_disk_mb(wildcards.dataset))


# ---------------------------------------------------------------------- hierarchy


def hierarchy_spec(dataset):
    """Where a dataset's hierarchy comes from: its ``hierarchy`` section, or the data stage."""
    spec = STUDY.dataset(dataset).get("hierarchy")
    if spec is None:  # planted by the data stage (synthetic)
        return {
            "source": None,
            "sha256": None,
            "format": "tsv",
            "class_order": "sorted",
        }
    return {"sha256": None, "class_order": "sorted", **spec}


def hierarchy_inputs(wildcards):
    spec = hierarchy_spec(wildcards.dataset)
    if spec["source"] is None:
        return {
            "hierarchy": f"{RESULTS}/{wildcards.dataset}/data/hierarchy.tsv",
            "classes": f"{RESULTS}/{wildcards.dataset}/data/classes.txt",
        }
    name = Path(urllib.parse.urlparse(spec["source"]).path).name
    return {"hierarchy": f"{RESULTS}/{wildcards.dataset}/hierarchy/source/{name}"}


def hierarchy_source(wildcards):
    return hierarchy_spec(wildcards.dataset)["source"]


def hierarchy_sha256(wildcards):
    return hierarchy_spec(wildcards.dataset)["sha256"]


def hierarchy_format(wildcards):
    return hierarchy_spec(wildcards.dataset)["format"]


def hierarchy_class_order(wildcards):
    return hierarchy_spec(wildcards.dataset)["class_order"]


def hierarchy_expected(wildcards):
    """Class count and height the config expects (None: not checked)."""
    section = STUDY.dataset(wildcards.dataset)
    return {"classes": section.get("classes"), "height": section.get("height")}


def frame_gamma(wildcards):
    return STUDY.dataset(wildcards.dataset)["frame"]["gamma"]


def frame_solver(wildcards):
    return STUDY.dataset(wildcards.dataset)["frame"]["solver"]


# ---------------------------------------------------------------------- runs


def run_spec(wildcards):
    return STUDY.run(wildcards.dataset, wildcards.variant, int(wildcards.seed))


def run_spec_values(wildcards):
    """The run's RunSpec as plain values (scripts rebuild it with RunSpec.from_dict), not a
    rerun trigger: its post-hoc chains and resources do not change the weights."""
    return Untracked(run_spec(wildcards).to_dict())


def training_identity(wildcards):
    """What determines the run's weights: the train job's rerun trigger (haframe.identity)."""
    return training_params(
        run_spec(wildcards),
        recorded_params(f"{RUN_DIR}/checkpoint.pt".format(**wildcards)),
    )


def evaluation_identity(wildcards):
    """The post-hoc chains and settings the evaluate job scores (haframe.identity)."""
    metrics = f"{RUN_DIR}/metrics.json".format(**wildcards)
    return evaluation_params(run_spec(wildcards), recorded_params(metrics), metrics)


def run_asset_files(wildcards):
    """The hierarchy and frame files a run reads (RunAssets.load's arguments)."""
    dataset = wildcards.dataset
    return {
        "hierarchy": hierarchy_file("tsv", dataset),
        "distances": hierarchy_file("distances", dataset),
        "levels": hierarchy_file("levels", dataset),
        "haframe": frame_file("haframe", dataset),
        "etf": frame_file("etf", dataset),
    }


def weights_input(wildcards):
    """The backbone's initial weights file, when the run starts from pretrained weights."""
    pretrained = run_spec(wildcards).training.pretrained
    return (
        {"weights": f"{DATA_ROOT}/weights/{WEIGHTS[pretrained].filename}"}
        if pretrained
        else {}
    )


def uses_gpu(wildcards):
    return 0 if run_spec(wildcards).training.device == "cpu" else 1


def run_threads(wildcards):
    """Cores a training/evaluation job occupies: torch threads + DataLoader workers."""
    training = run_spec(wildcards).training
    return training.threads + training.workers


def reported_runs(dataset):
    """The variants' runs of a dataset that the report waits for: all but the failed ones."""
    return [run for run in STUDY.runs(dataset) if not has_failed(run)]


def run_files(dataset, name, runs=None):
    """One file per reported run of a dataset (or per run of the ``runs`` given)."""
    return [
        f"{run_dir(run)}/{name}"
        for run in (reported_runs(dataset) if runs is None else runs)
    ]


def auxiliary_checkpoints(wildcards):
    """The checkpoints of the auxiliary models the run's post-hoc rules need, by name."""
    auxiliary = STUDY.auxiliary_runs_of(run_spec(wildcards))
    return {
        f"auxiliary_{name}": f"{run_dir(run)}/checkpoint.pt"
        for name, run in auxiliary.items()
    }


def tracked_files(wildcards):
    """What the MLflow run of a run is made of: its test metrics too, unless it is an
    auxiliary model (never evaluated on its own)."""
    run_dir = RUN_DIR.format(**wildcards)
    files = {
        "config": f"{run_dir}/config.yaml",
        "history": f"{run_dir}/history.csv",
        "nc": f"{run_dir}/nc.csv",
    }
    if wildcards.variant in config["variants"]:
        files["metrics"] = f"{run_dir}/metrics.json"
    return files


def dataset_run_files(name):
    """An input function: the file ``name`` of every run of ``wildcards.dataset``."""

    def files(wildcards):
        return run_files(wildcards.dataset, name)

    return files


def dataset_variants(wildcards):
    return STUDY.variants(wildcards.dataset)


# ---------------------------------------------------------------------- report


def report_files():
    """Every table and figure of the report (the inputs of its MLflow run)."""
    files = [
        f"{REPORT_DIR}/tables/{name}.{suffix}"
        for name in [
            "ablation",
            "summary",
            *DATASETS,
            *(f"{d}_hierarchy" for d in DATASETS),
        ]
        for suffix in ("md", "tex", "csv", "html")
    ]
    files += [
        f"{REPORT_DIR}/tables/scorecard.{suffix}" for suffix in ("md", "csv", "html")
    ]
    files += [
        f"{REPORT_DIR}/figures/{dataset}_{figure}.{suffix}"
        for dataset in DATASETS
        for figure in FIGURES
        for suffix in ("png", "svg")
    ]
    return files


# What the Snakemake HTML report shows: (file, caption in workflow/report/, category,
# subcategory, labels), per dataset ({dataset} filled in) and for the study.
DATASET_GALLERY = [
    (
        hierarchy_file("histogram", "{dataset}"),
        "distance_histogram.rst",
        "hierarchy",
        {"content": "distance histogram", "metric": "hierarchical distance"},
    ),
    (
        frame_file("heatmap", "{dataset}"),
        "cosines.rst",
        "frames",
        {"content": "HAFrame vs ETF cosines", "metric": "target cosine"},
    ),
    (
        f"{REPORT_DIR}/tables/{{dataset}}.html",
        "table.rst",
        "tables",
        {"content": "main table", "metric": "all"},
    ),
    (
        f"{REPORT_DIR}/tables/{{dataset}}_hierarchy.html",
        "hierarchy_table.rst",
        "tables",
        {
            "content": "HOPS, per-level accuracy, calibration",
            "metric": "HOPS, accuracy, ECE",
        },
    ),
    (
        f"{REPORT_DIR}/figures/{{dataset}}_error_vs_severity.png",
        "error_vs_severity.rst",
        "figures",
        {"content": "error vs severity", "metric": "top-1 error, mistake severity"},
    ),
    (
        f"{REPORT_DIR}/figures/{{dataset}}_ahd_at_k.png",
        "ahd_at_k.rst",
        "figures",
        {"content": "AHD@k curves", "metric": "AHD@k"},
    ),
    (
        f"{REPORT_DIR}/figures/{{dataset}}_training_curves.png",
        "training_curves.rst",
        "figures",
        {"content": "training curves", "metric": "val top-1 error, train loss"},
    ),
    (
        f"{REPORT_DIR}/figures/{{dataset}}_neural_collapse.png",
        "neural_collapse.rst",
        "figures",
        {
            "content": "neural collapse",
            "metric": "NC1, cosines to HAFrame and ETF, self-duality",
        },
    ),
    (
        f"{REPORT_DIR}/figures/{{dataset}}_mistake_distances.png",
        "mistake_distances.rst",
        "figures",
        {"content": "where mistakes land", "metric": "d(prediction, target)"},
    ),
]
STUDY_GALLERY = [
    (
        f"{REPORT_DIR}/tables/ablation.html",
        "ablation.rst",
        {"content": "ablation", "metric": "all"},
    ),
    (
        f"{REPORT_DIR}/tables/summary.html",
        "summary.rst",
        {"content": "summary", "metric": "top-1 error, mistake severity"},
    ),
    (
        f"{REPORT_DIR}/tables/scorecard.html",
        "scorecard.rst",
        {"content": "scorecard", "metric": "all"},
    ),
]


def report_gallery():
    """The report's files that exist when the workflow is built, flagged for `--report` (as
    inputs of the default target): one not built yet is left out, so `snakemake --report` works at any
    point of a study, a fresh clone included (statistics only)."""
    captions = Path(workflow.basedir) / "report"
    entries = [
        (path.format(dataset=dataset), caption, dataset, subcategory, labels)
        for dataset in DATASETS
        for path, caption, subcategory, labels in DATASET_GALLERY
    ]
    entries += [
        (path, caption, "study", None, labels)
        for path, caption, labels in STUDY_GALLERY
    ]
    flag = report  # (a line may not start with `report`: Snakemake reads it as its directive)
    return [
        flag(
            path,
            caption=str(captions / caption),
            category=category,
            subcategory=subcategory,
            labels=labels,
        )
        for path, caption, category, subcategory, labels in entries
        if Path(path).exists()
    ]


def report_file(key):
    """The file config ``report.<key>`` names ([] when none), relative to the working
    directory or else to the repository."""
    path = config["report"][key]
    if not path:
        return []
    return path if Path(path).exists() else str(Path(workflow.basedir).parent / path)


def study_variants():
    return {dataset: STUDY.variants(dataset) for dataset in DATASETS}


def study_series():
    """Every variant and post-hoc chain of the study, in config order (one colour each)."""
    return [
        name
        for variant, spec in config["variants"].items()
        for name in [
            variant,
            *(f"{variant}+{chain}" for chain in spec.get("posthoc") or []),
        ]
    ]


def dataset_failed_runs(wildcards):
    prefix = f"{wildcards.dataset}/"
    return {
        name: record
        for name, record in not_run()["runs"].items()
        if name.startswith(prefix)
    }


def not_run():
    """What the report lists as not run: datasets left out, and failed runs by name."""
    return {
        "datasets": dict(UNAVAILABLE),
        "runs": {
            f"{run.dataset}/{run.variant}/seed{run.seed}": FAILED.get(run_dir(run))
            or {"stage": "auxiliary", "error": "an auxiliary model it needs failed"}
            for dataset in DATASETS
            for run in STUDY.runs(dataset)
            if has_failed(run)
        },
    }


def study_seeds():
    return {
        dataset: {
            variant: STUDY.seeds(dataset, variant)
            for variant in STUDY.variants(dataset)
        }
        for dataset in DATASETS
    }


def frame_targets():
    """Download, hierarchy and frame outputs of every dataset (needs no training data)."""
    return [
        path
        for dataset in STUDY.datasets
        for path in (hierarchy_file("summary", dataset), frame_file("summary", dataset))
    ]


def all_targets():
    """Every available dataset's hierarchy, frames and runs (failed ones left out), the
    report and its MLflow run."""
    targets = [
        path
        for dataset in DATASETS
        for path in (hierarchy_file("summary", dataset), frame_file("summary", dataset))
    ]
    for dataset in DATASETS:
        runs = [run for run in STUDY.training_runs(dataset) if not has_failed(run)]
        targets += run_files(dataset, "mlflow.json", runs)
    return targets + report_files() + [f"{REPORT_DIR}/mlflow.json"]
