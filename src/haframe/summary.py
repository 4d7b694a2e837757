"""The study on one screen: what the workflow would build, printed at the end of a dry run."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from .cost import (
    THROUGHPUT_FILE,
    DatasetCost,
    Throughput,
    dataset_cost,
    format_gb,
    format_hours,
    read_throughput,
    scores_bytes,
    total_hours,
)
from .models.classifiers import CLASSIFIERS
from .pretrained import OUTPUTS
from .study import Study, load_config


def study_cost(study: Study, dataset: str, throughput: Sequence[Throughput]) -> DatasetCost:
    """The dataset's images read, GPU-hours and disk (haframe.cost) from the study's runs."""
    kind, section = study.kind(dataset), study.dataset(dataset)
    sources = kind.sources_for(section.get("sources"))
    data_mb = study.prepared_disk_mb(dataset) + sum(
        3 * source.disk_mb for source in sources.values()
    )  # download + extraction (2x)
    return dataset_cost(
        dataset,
        [(run, study.kept_scores(run.trial is not None)) for run in study.training_runs(dataset)],
        study.split_sizes(dataset),
        study.num_classes(dataset),
        data_mb,
        throughput,
    )


def pretrained_cost(study: Study, dataset: str) -> DatasetCost:
    """The pretrained classifiers' images read, and disk (their weights, test scores and the
    dataset); their scoring rate is not measured (bench/)."""
    models = [CLASSIFIERS[model] for model in study.pretrained.models]
    sizes = study.split_sizes(dataset)
    scores = None if sizes is None else len(models) * scores_bytes(["test"], sizes, OUTPUTS)
    weights = sum(4 * model.parameters for model in models)
    return DatasetCost(
        dataset=dataset,
        training_runs=0,
        images_read=None if sizes is None else len(models) * sizes["test"],
        gpu_hours=None,
        unmeasured=("the pretrained classifiers",),
        eager_for_compiled=False,
        disk_gb=(study.prepared_disk_mb(dataset) * 2**20 + weights + (scores or 0)) / 2**30,
        scores_gb=None if scores is None else scores / 2**30,
        gpu_name=None,
    )


def study_summary(
    study: Study,
    unavailable: Mapping[str, str],
    failed: Mapping[str, dict],
    throughput_file: str | Path,
    warnings: Sequence[str] = (),
) -> str:
    """A table of the study's datasets: classes, split sizes, variants x seeds, training jobs,
    images read, GPU-hours and disk; then the datasets left out, the runs that failed before
    and ``warnings``."""
    lines = [f"Study {study.name!r} (results/{study.name}/, MLflow experiment {study.name!r})", ""]
    header = (
        f"  {'dataset':<18} {'classes':>7}  {'train / val / test images':>27}  {'variants x seeds':>16}  "
        f"{'training jobs':>13}  {'images read':>13}  {'GPU-hours':>9}  {'disk GB':>7}"
    )
    lines += [header, "  " + "-" * (len(header) - 2)]
    costs, unmeasured, gpus, throughput = [], set(), set(), read_throughput(throughput_file)
    for dataset in study.datasets:
        if dataset in unavailable:
            lines.append(f"  {dataset:<18} not run: {unavailable[dataset]}")
            continue
        sizes = study.split_sizes(dataset)
        split_text = (
            " / ".join(f"{sizes[s]:,}" if s in sizes else "–" for s in ("train", "val", "test"))
            if sizes
            else "unknown until prepared"
        )
        per_seed_count = Counter(len(study.seeds(dataset, v)) for v in study.variants(dataset))
        grid = " + ".join(f"{variants} x {seeds}" for seeds, variants in sorted(per_seed_count.items(), reverse=True))
        if study.pretrained is not None and dataset == study.pretrained.dataset:
            grid, cost = f"{len(study.pretrained.models)} pretrained", pretrained_cost(study, dataset)
        else:
            cost = study_cost(study, dataset, throughput)
        costs.append(cost)
        unmeasured.update(cost.unmeasured)
        gpus.update([cost.gpu_name] if cost.gpu_name else [])
        classes = study.num_classes(dataset) or "–"
        images = f"{cost.images_read:,}" if cost.images_read is not None else "?"
        lines.append(
            f"  {dataset:<18} {classes!s:>7}  {split_text:>27}  {grid:>16}  {cost.training_runs:>13,}  "
            f"{images:>13}  {format_hours(cost.gpu_hours):>9}  {format_gb(cost.disk_gb):>7}"
        )
    images_total = sum(cost.images_read or 0 for cost in costs)
    lines += [
        "  " + "-" * (len(header) - 2),
        f"  {'total':<18} {'':>7}  {'':>27}  {'':>16}  {sum(c.training_runs for c in costs):>13,}  "
        f"{images_total:>13,}  "
        f"{format_hours(total_hours(costs)):>9}  {format_gb(sum(c.disk_gb for c in costs)):>7}",
    ]
    lines.append(
        f"  GPU-hours: training steps and forward passes at the model's measured rate on one "
        f"{', '.join(sorted(gpus)) or 'GPU'} (bench/throughput.csv; a slower loader adds to it)"
        + (
            "; torch.compile's rate not measured: costed at the eager rate"
            if any(c.eager_for_compiled for c in costs)
            else ""
        )
        + (f"; no rate measured for {', '.join(sorted(unmeasured))}" if unmeasured else "")
    )
    kept = [c.scores_gb for c in costs if c.scores_gb is not None]
    lines.append(
        f"  disk GB: data, checkpoints and the runs' saved class scores (scores: {study.config.get('scores', 'all')}"
        + (f"; {format_gb(sum(kept))} GB of scores" if kept else "")
        + ("; the trials keep their validation scores at most" if study.protocol.tuned else "")
        + ")"
    )
    lines += _protocol_lines(study, costs)
    if unavailable:
        lines += ["", f"Left out: {', '.join(unavailable)} (set the inputs named above to include them)."]
    if failed:
        lines += [
            "",
            f"{len(failed)} run(s) failed before and are left out (reported as failed; to retry one, "
            f"delete its failed.json):",
        ]
        lines += [f"  {run_dir}: {record['stage']}: {record['error']}" for run_dir, record in sorted(failed.items())]
    lines += [f"\nWarning: {warning}" for warning in warnings]
    return "\n".join(lines) + "\n"


def _protocol_lines(study: Study, costs: Sequence[DatasetCost]) -> list[str]:
    """Under the tuned protocol: its settings, the trials it runs and the share of the study
    spent on tuning (the trials no repetition can select: all but one per repetition)."""
    protocol = study.protocol
    if not protocol.tuned:
        return []
    variants = sum(len(study.variants(d)) for d in study.datasets if any(c.dataset == d for c in costs))
    runs = variants * protocol.trials * protocol.repeats
    hours = total_hours(costs)
    share = 1 - 1 / protocol.trials
    return [
        "",
        f"Protocol {protocol.describe()}.",
        f"  {variants} (dataset, variant) pairs x {protocol.trials} trials x {protocol.repeats} repetitions = "
        f"{runs:,} trial runs; {variants * protocol.repeats:,} of them are reported (one selected per repetition); "
        f"tuning's share of the study: {share:.0%} of the trial runs"
        + (f" ({format_hours(hours * share)} of {format_hours(hours)} GPU-hours)" if hours else ""),
    ]


def _merged(configs: Sequence[Mapping]) -> dict:
    """Config files merged as Snakemake merges several --configfile: later keys win, key by key."""
    merged: dict = {}
    for config in configs:
        for key, value in config.items():
            if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
                merged[key] = _merged([merged[key], value])
            else:
                merged[key] = value
    return merged


def main(argv: Sequence[str] | None = None) -> None:
    """The dry run's table for config files, every dataset included (inputs need not be set):
    ``python -m haframe.summary config/config.yaml [config/fast.yaml]``."""
    import argparse

    import yaml

    parser = argparse.ArgumentParser(prog="python -m haframe.summary", description=main.__doc__.split(":")[0])
    parser.add_argument("configfiles", nargs="+", help="merged in order, like snakemake --configfile")
    parser.add_argument("--throughput", default=str(THROUGHPUT_FILE))
    args = parser.parse_args(argv)
    config = _merged([yaml.safe_load(Path(path).read_text()) for path in args.configfiles])
    study = Study(load_config(config, args.configfiles[-1]))
    print(study_summary(study, {}, {}, args.throughput), end="")


if __name__ == "__main__":
    main()
