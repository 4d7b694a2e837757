import sys
import urllib.parse
from pathlib import Path

# The library is importable without installation too (e.g. inside a --sdm conda env).
sys.path.insert(0, str(Path(workflow.basedir).parent / "src"))

from haframe.config import (  # noqa: E402
    ConfigError,
    dataset_variants,
    resolve_run,
    run_seeds,
    validate_study,
)
from haframe.data.sources import WEIGHTS, dataset_sources  # noqa: E402
from haframe.tracking import default_tracking_uri  # noqa: E402

try:
    validate_study(config)
except ConfigError as error:
    raise WorkflowError(f"invalid configuration: {error}") from None

ENV = "../../envs/haframe.yaml"
TRACKING_URI = config["mlflow"]["tracking_uri"] or default_tracking_uri("results")
REFERENCE_RESULTS = config["report"]["reference_results"]
if (
    REFERENCE_RESULTS and not Path(REFERENCE_RESULTS).exists()
):  # relative to the repository
    REFERENCE_RESULTS = str(Path(workflow.basedir).parent / REFERENCE_RESULTS)


wildcard_constraints:
    dataset="|".join(config["datasets"]),
    variant="|".join(config["variants"]),
    seed=r"\d+",


DATA_ROOT = config["data_root"]


def datasets_of_kind(kind):
    """A wildcard pattern matching the datasets of one kind (matches nothing if none)."""
    names = [name for name, ds in config["datasets"].items() if ds["kind"] == kind]
    return "|".join(names) or "^$"


def dataset_sources_of(dataset):
    ds = config["datasets"][dataset]
    return dataset_sources(ds["kind"], ds.get("sources"))


def source_named(dataset, filename):
    for source in dataset_sources_of(dataset).values():
        if source.filename == filename:
            return source
    raise WorkflowError(f"dataset {dataset!r} has no source file {filename!r}")


def source_disk_mb(dataset, filename):
    return {"train_val2019.tar.gz": 90_000}.get(filename, 2_000)


def extracted(dataset, key):
    """The extracted folder of one of the dataset's sources."""
    source = dataset_sources_of(dataset)[key]
    return f"{DATA_ROOT}/extracted/{dataset}/{source.filename}.d"


def expected_counts(dataset):
    """Per split (images, classes) the preparation must find: config override or None (the
    library's published numbers)."""
    counts = config["datasets"][dataset].get("counts")
    return {split: list(value) for split, value in counts.items()} if counts else None


def imagenet_inputs(wildcards):
    """tieredImageNet-H's ILSVRC-2012 sources; stops the DAG build with instructions when
    they are missing or malformed (only when the dataset's preparation is needed)."""
    from haframe.data.tiered import check_imagenet
    from haframe.data.prepared import DataError

    imagenet = config["datasets"][wildcards.dataset].get("imagenet") or {}
    try:
        check_imagenet(
            imagenet.get("train"), imagenet.get("val"), name=wildcards.dataset
        )
    except DataError as error:
        raise WorkflowError(str(error)) from None
    return {"train": imagenet["train"], "val": imagenet["val"]}


def hierarchy_spec(dataset):
    """Where a dataset's hierarchy comes from: its ``hierarchy`` section, or the data stage."""
    spec = config["datasets"][dataset].get("hierarchy")
    if spec is None:  # generated with the data (synthetic)
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


def frame_targets():
    """Download, hierarchy and frame outputs of every dataset (needs no training data)."""
    return [
        f"results/{dataset}/{stage}/summary.json"
        for dataset in config["datasets"]
        for stage in ("hierarchy", "frames")
    ]


def run_files(dataset, name):
    """One file per (variant, seed) run of a dataset."""
    return [
        f"results/{dataset}/runs/{variant}/seed{seed}/{name}"
        for variant in dataset_variants(config, dataset)
        for seed in run_seeds(config, dataset, variant)
    ]


def run_config(wildcards):
    return resolve_run(
        config, wildcards.dataset, wildcards.variant, int(wildcards.seed)
    )


def weights_input(wildcards):
    """The backbone's initial weights file, when the run starts from pretrained weights."""
    pretrained = run_config(wildcards)["training"]["pretrained"]
    return (
        {"weights": f"{DATA_ROOT}/weights/{WEIGHTS[pretrained]['filename']}"}
        if pretrained
        else {}
    )


def weights_named(filename):
    for name, spec in WEIGHTS.items():
        if spec["filename"] == filename:
            return spec
    raise WorkflowError(f"no known weights file {filename!r}")


def uses_gpu(wildcards):
    return 0 if run_config(wildcards)["training"]["device"] == "cpu" else 1


def training_threads(wildcards):
    """Cores a training/evaluation job occupies: torch threads + DataLoader workers."""
    training = run_config(wildcards)["training"]
    return training["threads"] + training["workers"]


def report_files():
    """Every table and figure of the report (the inputs of its MLflow run)."""
    files = [
        f"results/report/tables/{name}.{suffix}"
        for name in ["ablation", "summary", *config["datasets"]]
        for suffix in ("md", "tex", "csv")
    ]
    files += [
        "results/report/tables/scorecard.md",
        "results/report/tables/scorecard.csv",
    ]
    files += [
        f"results/report/figures/{dataset}_{figure}.{suffix}"
        for dataset in config["datasets"]
        for figure in ("error_vs_severity", "ahd_at_k", "training_curves")
        for suffix in ("png", "svg")
    ]
    return files


def all_targets():
    targets = []
    for dataset in config["datasets"]:
        targets += [
            f"results/{dataset}/hierarchy/summary.json",
            f"results/{dataset}/frames/summary.json",
        ]
        targets += run_files(dataset, "mlflow.json")
    return targets + report_files() + ["results/report/mlflow.json"]
