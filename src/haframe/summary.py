"""The study on one screen: what the workflow would build, printed at the end of a dry run."""

from __future__ import annotations

from collections import Counter
from typing import Mapping, Sequence

from .study import Study


def _images_read(study: Study, dataset: str) -> int | None:
    """Images every training run of the dataset reads: per epoch its training split, the
    validation split and, with neural-collapse passes, the training split again; then the
    test split once at evaluation (auxiliary models are not evaluated)."""
    sizes = study.split_sizes(dataset)
    if sizes is None:
        return None
    total = 0
    for run in study.training_runs(dataset):
        epochs, training = run.training.epochs, run.training
        collapse_passes = len({e for e in range(training.nc_every, epochs + 1, training.nc_every)} | {epochs})
        total += epochs * (sizes["train"] + sizes["val"]) + collapse_passes * sizes["train"]
    return total + sizes["test"] * len(study.runs(dataset))


def study_summary(study: Study, unavailable: Mapping[str, str], failed: Mapping[str, dict], warnings: Sequence[str] = ()) -> str:
    """A table of the study's datasets: classes, split sizes, variants x seeds, training jobs
    and images read; then the datasets left out, the runs that failed before and ``warnings``."""
    lines = [f"Study {study.name!r} (results/{study.name}/, MLflow experiment {study.name!r})", ""]
    header = f"  {'dataset':<18} {'classes':>7}  {'train / val / test images':>27}  {'variants x seeds':>16}  {'training jobs':>13}  {'images read':>13}"
    lines += [header, "  " + "-" * (len(header) - 2)]
    jobs_total, images_total = 0, 0
    for dataset in study.datasets:
        if dataset in unavailable:
            lines.append(f"  {dataset:<18} not run: {unavailable[dataset]}")
            continue
        sizes = study.split_sizes(dataset)
        split_text = " / ".join(f"{sizes[s]:,}" for s in ("train", "val", "test")) if sizes else "unknown until prepared"
        per_seed_count = Counter(len(study.seeds(dataset, v)) for v in study.variants(dataset))
        grid = " + ".join(f"{variants} x {seeds}" for seeds, variants in sorted(per_seed_count.items(), reverse=True))
        jobs = len(study.training_runs(dataset))
        images = _images_read(study, dataset)
        jobs_total += jobs
        images_total += images or 0
        classes = study.dataset(dataset).get("classes") or "–"
        lines.append(f"  {dataset:<18} {classes!s:>7}  {split_text:>27}  {grid:>16}  {jobs:>13,}  "
                     f"{f'{images:,}' if images is not None else '?':>13}")
    lines += ["  " + "-" * (len(header) - 2),
              f"  {'total':<18} {'':>7}  {'':>27}  {'':>16}  {jobs_total:>13,}  {images_total:>13,}"]
    if unavailable:
        lines += ["", f"Left out: {', '.join(unavailable)} (set the inputs named above to include them)."]
    if failed:
        lines += ["", f"{len(failed)} run(s) failed before and are left out (reported as failed; to retry one, "
                      f"delete its failed.json):"]
        lines += [f"  {run_dir}: {record['stage']}: {record['error']}" for run_dir, record in sorted(failed.items())]
    lines += [f"\nWarning: {warning}" for warning in warnings]
    return "\n".join(lines) + "\n"
