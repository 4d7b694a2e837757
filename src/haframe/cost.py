"""What a study costs before anything runs: per dataset, the images its runs read, the GPU-hours
at the measured training throughput (``bench/throughput.csv``) and the disk it needs.

A run reads, per epoch, its training split (a training step per image) and its validation
split (a forward pass), the training split once more at every neural-collapse pass, and the
test split once when it is evaluated (auxiliary models are not). A forward pass costs
1 / FORWARD_SPEEDUP of a training step. Rates are the model's, from random inputs: a run whose
loader is slower than its model (bench/loader.py) takes longer. Torch-free.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .models.records import backbone
from .runs import RunSpec

# a training step per image over a no-grad forward, measured on the CPU for the paper's models
# (bench/collapse_overhead.py: ResNet-50 160.1 / 44.7 ms, WRN-28-8 75.8 / 22.3 ms per image)
THROUGHPUT_FILE = Path(__file__).resolve().parents[2] / "bench" / "throughput.csv"  # the checkout's measured rates
FORWARD_SPEEDUP = 3.4
# fp32 copies of the parameters a run keeps: checkpoint.pt, resume/best.pt, resume/state.pt (+ SGD momentum)
PARAMETER_COPIES = 4


@dataclass(frozen=True)
class Throughput:
    """One measured rate of ``bench/throughput.csv``."""

    device: str  # gpu or cpu
    device_name: str
    torch: str
    measured: str
    backbone: str
    method: str
    head: str
    precision: str
    channels_last: bool
    compile: str
    batch: int
    images_per_second: float


def read_throughput(path: str | Path) -> list[Throughput]:
    with open(path, newline="") as handle:
        rows = csv.DictReader(line for line in handle if not line.startswith("#"))
        return [
            Throughput(
                **{
                    **row,
                    "channels_last": row["channels_last"] == "true",
                    "batch": int(row["batch"]),
                    "images_per_second": float(row["images_per_second"]),
                }
            )
            for row in rows
        ]


def rate_for(run: RunSpec, table: Sequence[Throughput], device: str = "gpu") -> Throughput | None:
    """The measured rate of the run's backbone, method, head and precision settings on
    ``device``; CE's with the same head when its method has none; for a compiled run without a
    compiled rate, the eager one (compiling does not slow a model down); None otherwise."""
    training = run.training
    for compiled in dict.fromkeys((training.compile or "none", "none")):
        settings = (training.backbone, run.head, training.precision, training.channels_last, compiled)
        for method in (run.method, "ce"):
            for row in table:
                if (
                    row.device == device
                    and row.method == method
                    and (row.backbone, row.head, row.precision, row.channels_last, row.compile) == settings
                ):
                    return row
    return None


@dataclass(frozen=True)
class RunImages:
    trained: int  # images through a training step
    forward: int  # images through a forward pass only

    @property
    def total(self) -> int:
        return self.trained + self.forward


def images_of(run: RunSpec, sizes: Mapping[str, int]) -> RunImages:
    """Training steps; forward passes: validation every epoch, the neural-collapse passes, and
    the evaluation's scores of the validation and test splits (every run, auxiliary ones too)."""
    training = run.training
    epochs = training.epochs
    collapse_passes = epochs // training.nc_every + (epochs % training.nc_every != 0)  # every nc_every-th, the last
    forward = (epochs + 1) * sizes["val"] + collapse_passes * sizes["train"] + sizes["test"]
    return RunImages(trained=epochs * sizes["train"], forward=forward)


def gpu_seconds(read: RunImages, rate: Throughput) -> float:
    """A run's images at the measured rate: training steps, and forward passes at FORWARD_SPEEDUP."""
    return (read.trained + read.forward / FORWARD_SPEEDUP) / rate.images_per_second


# A training job's wall-time limit (SLURM): the estimate x3 + 30 min (a slower GPU or loader,
# the setup, a resume), at least an hour; a day where no rate is measured. Times the attempt.
RUNTIME_MARGIN, RUNTIME_EXTRA_MIN, RUNTIME_MIN, RUNTIME_UNMEASURED = 3.0, 30, 60, 24 * 60


def training_runtime(run: RunSpec, sizes: Mapping[str, int] | None, table: Sequence[Throughput]) -> int:
    """The train job's wall-time limit in minutes, from the study's own cost estimate."""
    rate = rate_for(run, table)
    if rate is None or sizes is None:
        return RUNTIME_UNMEASURED
    minutes = gpu_seconds(images_of(run, sizes), rate) / 60
    return max(RUNTIME_MIN, math.ceil(RUNTIME_MARGIN * minutes + RUNTIME_EXTRA_MIN))


def scores_bytes(splits: Iterable[str], sizes: Mapping[str, int], classes: int) -> int:
    """The saved scores of the ``splits`` a run keeps: float32 per image and class, an int64 label."""
    return sum(sizes[split] * (4 * classes + 8) for split in splits)


@dataclass(frozen=True)
class DatasetCost:
    dataset: str
    training_runs: int
    images_read: int | None  # None: split sizes unknown before preparation
    gpu_hours: float | None  # None: some run has no measured rate (``unmeasured``) or sizes unknown
    unmeasured: tuple[str, ...]  # "backbone head precision ..." settings without a measured GPU rate
    eager_for_compiled: bool  # some compiled run was costed at its eager rate
    disk_gb: float  # data, checkpoints and saved scores
    scores_gb: float | None  # the saved scores (None: split sizes unknown before preparation)
    gpu_name: str | None  # the device the rates were measured on


def dataset_cost(
    dataset: str,
    runs: Iterable[tuple[RunSpec, Sequence[str]]],
    sizes: Mapping[str, int] | None,
    num_classes: int | None,
    data_mb: float,
    table: Sequence[Throughput],
) -> DatasetCost:
    """``runs``: every training run of the dataset with the splits whose scores it keeps;
    ``data_mb``: its downloads, extractions and prepared files."""
    runs = list(runs)
    images, seconds, unmeasured, names, eager_for_compiled = 0, 0.0, [], set(), False
    checkpoint_bytes, kept_scores = 0, 0
    for run, kept in runs:
        record = backbone(run.training.backbone)  # its parameters and feature width (tests/test_cost.py checks them)
        parameters, width = record.parameters, record.feature_width
        classes = num_classes or 0
        checkpoint_bytes += 4 * PARAMETER_COPIES * (parameters + classes * (width + classes))  # head: at most d = K
        if sizes is None:
            continue
        kept_scores += scores_bytes(kept, sizes, classes)  # an auxiliary model's fewer classes: at most K
        read = images_of(run, sizes)
        images += read.total
        rate = rate_for(run, table)
        t = run.training
        if rate is None:
            unmeasured.append(
                f"{t.backbone} type {run.head} {t.precision}" + (" channels_last" if t.channels_last else "")
            )
            continue
        eager_for_compiled |= rate.compile != (t.compile or "none")
        names.add(rate.device_name)
        seconds += gpu_seconds(read, rate)
    known = sizes is not None and not unmeasured
    return DatasetCost(
        dataset=dataset,
        training_runs=len(runs),
        images_read=images if sizes is not None else None,
        gpu_hours=seconds / 3600 if known else None,
        unmeasured=tuple(sorted(set(unmeasured))),
        eager_for_compiled=eager_for_compiled,
        disk_gb=(data_mb * 2**20 + checkpoint_bytes + kept_scores) / 2**30,
        scores_gb=kept_scores / 2**30 if sizes is not None else None,
        gpu_name=", ".join(sorted(names)) or None,
    )


def format_hours(hours: float | None) -> str:
    if hours is None:
        return "?"
    return f"{hours:,.0f}" if hours >= 10 else f"{hours:.2g}" if hours > 0 else "0"


def format_gb(gb: float) -> str:
    return f"{gb:,.0f}" if gb >= 10 else f"{max(gb, 0.01):.2f}".rstrip("0").rstrip(".")


def total_hours(costs: Iterable[DatasetCost]) -> float | None:
    hours = [cost.gpu_hours for cost in costs]
    return None if any(h is None for h in hours) else math.fsum(hours)
