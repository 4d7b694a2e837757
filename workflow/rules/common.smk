# The study, paths and named input functions every rule file uses.
from pathlib import Path
import urllib.parse

from haframe.assets import FRAME_FILES, HIERARCHY_FILES
from haframe.models.weights import WEIGHTS
from haframe.runs import ConfigError
from haframe.study import Study
from haframe.tracking import default_tracking_uri

try:
    STUDY = Study(config)
except ConfigError as error:
    raise WorkflowError(f"invalid configuration: {error}") from None

ENV = "../../envs/haframe.yaml"
DATA_ROOT = config["data_root"]
LOCK_FILE = f"{DATA_ROOT}/downloads.lock.yaml"
TRACKING_URI = config["mlflow"]["tracking_uri"] or default_tracking_uri("results")
RUN_DIR = "results/{dataset}/runs/{variant}/seed{seed}"
FIGURES = (  # per dataset, results/report/figures/{dataset}_{figure}.{png,svg}
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
    return f"results/{dataset}/hierarchy/{HIERARCHY_FILES[name]}"


def frame_file(name, dataset="{dataset}"):
    return f"results/{dataset}/frames/{FRAME_FILES[name]}"


def datasets_planting_hierarchy(plants=True):
    """A wildcard pattern: the datasets whose preparation plants their hierarchy (or, with
    ``plants=False``, that read one from their ``hierarchy`` source); matches nothing if none.
    """
    names = [d for d in STUDY.datasets if STUDY.plants_hierarchy(d) == plants]
    return "|".join(names) or "^$"


# ---------------------------------------------------------------------- downloads


def dataset_source(wildcards):
    """The dataset's source whose file is ``wildcards.filename``."""
    kind = STUDY.kind(wildcards.dataset)
    for source in kind.sources_for(
        STUDY.dataset(wildcards.dataset).get("sources")
    ).values():
        if source.filename == wildcards.filename:
            return source
    raise WorkflowError(
        f"dataset {wildcards.dataset!r} has no source file {wildcards.filename!r}"
    )


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


def dataset_options(wildcards):
    return dict(STUDY.dataset(wildcards.dataset))


def dataset_kind(wildcards):
    return STUDY.kind(wildcards.dataset).name


def prepare_threads(wildcards):
    return STUDY.kind(wildcards.dataset).threads


def prepare_mem_mb(wildcards):
    return STUDY.kind(wildcards.dataset).mem_mb


def prepare_runtime(wildcards):
    return STUDY.kind(wildcards.dataset).runtime_min


def prepare_disk_mb(wildcards):
    return STUDY.kind(wildcards.dataset).disk_mb


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
            "hierarchy": f"results/{wildcards.dataset}/data/hierarchy.tsv",
            "classes": f"results/{wildcards.dataset}/data/classes.txt",
        }
    name = Path(urllib.parse.urlparse(spec["source"]).path).name
    return {"hierarchy": f"results/{wildcards.dataset}/hierarchy/source/{name}"}


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
    """The run's RunSpec as plain values (scripts rebuild it with RunSpec.from_dict)."""
    return run_spec(wildcards).to_dict()


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


def run_files(dataset, name, runs=None):
    """One file per (variant, seed) run of a dataset (or of the ``runs`` given)."""
    return [
        f"results/{run.dataset}/runs/{run.variant}/seed{run.seed}/{name}"
        for run in (STUDY.runs(dataset) if runs is None else runs)
    ]


def auxiliary_checkpoints(wildcards):
    """The checkpoints of the auxiliary models the run's post-hoc rules need, by name."""
    auxiliary = STUDY.auxiliary_runs_of(run_spec(wildcards))
    return {
        f"auxiliary_{name}": f"results/{run.dataset}/runs/{run.variant}/seed{run.seed}/checkpoint.pt"
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


def experiment_name(wildcards):
    return wildcards.dataset


# ---------------------------------------------------------------------- report


def report_files():
    """Every table and figure of the report (the inputs of its MLflow run)."""
    files = [
        f"results/report/tables/{name}.{suffix}"
        for name in [
            "ablation",
            "summary",
            *STUDY.datasets,
            *(f"{d}_hierarchy" for d in STUDY.datasets),
        ]
        for suffix in ("md", "tex", "csv")
    ]
    files += [
        "results/report/tables/scorecard.md",
        "results/report/tables/scorecard.csv",
    ]
    files += [
        f"results/report/figures/{dataset}_{figure}.{suffix}"
        for dataset in STUDY.datasets
        for figure in FIGURES
        for suffix in ("png", "svg")
    ]
    return files


def report_file(key):
    """The file config ``report.<key>`` names ([] when none), relative to the working
    directory or else to the repository."""
    path = config["report"][key]
    if not path:
        return []
    return path if Path(path).exists() else str(Path(workflow.basedir).parent / path)


def study_variants():
    return {dataset: STUDY.variants(dataset) for dataset in STUDY.datasets}


def study_seeds():
    return {
        dataset: {
            variant: STUDY.seeds(dataset, variant)
            for variant in STUDY.variants(dataset)
        }
        for dataset in STUDY.datasets
    }


def frame_targets():
    """Download, hierarchy and frame outputs of every dataset (needs no training data)."""
    return [
        path
        for dataset in STUDY.datasets
        for path in (hierarchy_file("summary", dataset), frame_file("summary", dataset))
    ]


def all_targets():
    targets = frame_targets()
    for dataset in STUDY.datasets:
        targets += run_files(dataset, "mlflow.json", STUDY.training_runs(dataset))
    return targets + report_files() + ["results/report/mlflow.json"]
