"""A run: one trained model (dataset, variant, seed) as a typed, frozen record.

``haframe.study`` resolves runs from the study configuration; a run directory saves its
``RunSpec`` (``config.yaml``, the checkpoint) and its identity hash. Torch-free: the MLflow
importer and the report read runs without the training stack.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import hashlib
import json
import math
import subprocess
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from .data.prepared import AUGMENT_ON
from .models.records import BACKBONES, WEIGHTS
from .options import ConfigError, LogUniform, Option, build, declared, options_of

# Resources that do not change a run's numbers: left out of its identity hash.
RESOURCE_FIELDS = ("threads", "workers")
# Training settings added after runs were recorded: left out of a run's record while at their
# default, so that an upgrade keeps the identity (and Snakemake's params) of the runs before them.
ADDED_LATER = ("augment_on", "optimizer")


@dataclass(frozen=True)
class LrScale:
    """Multipliers of lr(e) per parameter group (README, "The method" 5)."""

    backbone: float = declared(
        Option(float, 0.1, "multiplier of lr(e) for the backbone and the type-II 1x1 projection", low=0)
    )
    head: float = declared(
        Option(
            float,
            1.0,
            "multiplier of lr(e) for the type-I 2048 -> 600 block and the type-II BN + transformation layer",
            low=0,
        )
    )
    classifier: float = declared(Option(float, 1.0, "multiplier of lr(e) for the method's classifier", low=0))
    type_II_head: float | None = declared(
        Option(float, None, "replaces `head` for type-II heads when set", low=0, nullable=True)
    )

    def of_head(self, head: str) -> float:
        return self.type_II_head if head == "II" and self.type_II_head is not None else self.head


@dataclass(frozen=True)
class Training:
    """How a run trains; the defaults are the published protocol (README, "The method" 5). Each
    field declares its option (``haframe.options``): ``typed`` checks every value through it."""

    # bounded so that a typo cannot make the dry run's arithmetic or a run's history unbounded
    epochs: int = declared(Option(int, 100, "E of the cosine schedule", low=1, high=100_000))
    batch_size: int = declared(Option(int, 64, "training images per step (the last partial batch is dropped)", low=1))
    # searched log-uniformly over 1e-3..0.5: around the published SGD lr 0.1 (the backbone's 0.01
    # through lr_scale), from the 1e-3 that BiLT's authors gave HXE and soft labels (with Adam) up
    # to 5x the published one
    lr: float = declared(
        Option(
            float,
            0.1,
            "lr at epoch 0; lr(e) = lr/2 (1 + cos(pi e / E))",
            low=0,
            low_open=True,
            search=LogUniform(1e-3, 0.5),
        )
    )
    lr_scale: LrScale = declared(Option(LrScale, LrScale(), "multipliers of lr(e) per parameter group"))
    # the published recipe is SGD; BiLT's re-runs of HXE and soft labels used Adam at lr 1e-3
    optimizer: str = declared(
        Option(
            str,
            "sgd",
            "sgd (momentum, the published recipe) or adam (default betas; momentum unused); both with weight_decay "
            "as an L2 term and the lr_scale groups",
            choices=("sgd", "adam"),
        )
    )
    momentum: float = declared(Option(float, 0.9, "SGD momentum", low=0, high=1))
    # searched log-uniformly over 1e-5..1e-2: two decades either side of the published 5e-4
    weight_decay: float = declared(
        Option(float, 5.0e-4, "SGD weight decay, on all parameters", low=0, search=LogUniform(1e-5, 1e-2))
    )
    backbone: str = declared(
        Option(str, "resnet50", "the feature extractor (haframe.models.records.BACKBONES)", choices=tuple(BACKBONES))
    )
    pretrained: str | None = declared(
        Option(
            str,
            "imagenet1k_v1",
            "initial backbone weights, downloaded by the workflow (haframe.models.records.WEIGHTS; null: random)",
            choices=tuple(WEIGHTS),
            nullable=True,
        )
    )
    feature_dim: int | None = declared(
        Option(int, None, "type-II feature width d (null: the method's output width, K)", low=1, nullable=True)
    )
    type_I_width: int | None = declared(
        Option(
            int,
            600,
            "type-I head width of a backbone whose record has that block (ResNet-50: 600; null: K)",
            low=1,
            nullable=True,
        )
    )
    device: str = declared(
        Option(
            str,
            "auto",
            "where a job trains: auto (cuda when present, else cpu), cpu, cuda, cuda:<i>",
            pattern=r"auto|cpu|cuda(:[0-9]+)?",
            note="auto, cpu, cuda or cuda:<index>",
        )
    )
    precision: str = declared(Option(str, "fp32", "fp32, or bf16 autocast", choices=("fp32", "bf16")))
    channels_last: bool = declared(Option(bool, False, "channels-last memory format for the images and the backbone"))
    compile: str | None = declared(
        Option(
            str,
            None,
            "a torch.compile backend for the training and evaluation forward "
            "passes (null: eager); inductor on a GPU is the fast profile's",
            choices=("inductor", "aot_eager", "cudagraphs"),
            nullable=True,
        )
    )
    fused_optimizer: bool = declared(
        Option(bool, False, "SGD's fused kernel (the for-loop kernel's numbers, faster on a GPU: bench/README.md)")
    )
    augment_on: str = declared(
        Option(
            str,
            "workers",
            "image datasets: the published transforms in the DataLoader "
            "workers, or the workers crop and the training device resizes "
            "and flips (within 1 grey level of the published images; a "
            "recipe that resizes first: identical)",
            choices=AUGMENT_ON,
        )
    )
    deterministic: bool = declared(Option(bool, True, "deterministic kernels (same seed, same numbers)"))
    nc_every: int = declared(
        Option(int, 5, "a neural-collapse pass after every nc_every-th epoch and the last (the authors: 5)", low=1)
    )
    chance_patience: int | None = declared(
        Option(
            int,
            None,
            "stop (fail) a run whose training error stays at chance, "
            "100 (1 - 1/K) within 1 point, this many epochs in a row "
            "(null: never)",
            low=1,
            nullable=True,
        )
    )
    threads: int = declared(
        Option(int, 1, "torch threads per training or evaluation job (a resource: not part of the identity)", low=1)
    )
    workers: int = declared(
        Option(int, 0, "DataLoader worker processes per job, images layout (a resource too)", low=0)
    )

    def __post_init__(self):
        options_of(Training)["augment_on"].check(self.augment_on, "training.augment_on")


@dataclass(frozen=True)
class Evaluation:
    batch_size: int | None = declared(
        Option(
            int,
            256,
            "images per evaluation batch (null: sized by device, 256 on a CPU, 1024 on a GPU)",
            low=1,
            nullable=True,
        )
    )
    drop_last: bool = declared(
        Option(bool, False, "true reproduces the authors' loaders (last partial batch unscored)")
    )

    # no-grad batches, by device type: a GPU scores large batches faster, a CPU gains nothing above 256
    AUTOMATIC_BATCH: ClassVar[dict[str, int]] = {"cpu": 256, "cuda": 1024}

    def __post_init__(self):
        if self.batch_size is None and self.drop_last:
            raise ConfigError(
                "evaluation.batch_size: null (sized by device) cannot go with drop_last: true, "
                "whose unscored images depend on the batch size; set a batch size"
            )

    def batch_size_on(self, device_type: str) -> int:
        """The batch size on a device of type ``device_type`` (``torch.device.type``)."""
        return self.batch_size or self.AUTOMATIC_BATCH.get(device_type, self.AUTOMATIC_BATCH["cuda"])


@dataclass(frozen=True)
class FrameSpec:
    gamma: float
    solver: str = "grid"


CONTROLS = ("shuffled_hierarchy",)


@dataclass(frozen=True)
class Control:
    """A control run (haframe.assets.RunAssets.shuffled): ``shuffled_hierarchy`` trains the
    variant on its tree with the classes placed at the leaf slots of a permutation drawn from
    ``seed``, and is scored on the true tree."""

    name: str = declared(Option(str, "shuffled_hierarchy", "the control", choices=CONTROLS))
    seed: int = declared(Option(int, 0, "seeds the permutation of the leaf slots", low=0))


@dataclass(frozen=True)
class Trial:
    """Where a tuned-protocol run sits in its search (haframe.protocol): the trial, the
    repetition, and the values drawn for it (method parameters by name, ``training.<knob>``)."""

    index: int
    repetition: int
    drawn: Mapping[str, Any] = field(hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "drawn", types.MappingProxyType(dict(self.drawn)))

    def to_dict(self) -> dict:
        return {"index": self.index, "repetition": self.repetition, "drawn": dict(self.drawn)}


@dataclass(frozen=True)
class RunSpec:
    """Everything that determines one run's numbers, plus the resources it runs with."""

    dataset: str
    dataset_kind: str
    variant: str
    seed: int
    method: str
    head: str
    params: Mapping[str, Any] = field(hash=False)  # the method's hyper-parameters, checked
    posthoc: tuple[str, ...]  # post-hoc chains evaluated beside the base prediction, e.g. "crm"
    frame: FrameSpec
    training: Training
    evaluation: Evaluation
    trial: Trial | None = None  # the tuned protocol's trial; None under the published protocol
    control: Control | None = None  # a control run's (its variant's ``control``); None: the true hierarchy

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", types.MappingProxyType(dict(self.params)))

    @property
    def name(self) -> str:
        """dataset/variant/seedN: what identifies the run in paths, logs and MLflow."""
        return f"{self.dataset}/{self.variant}/seed{self.seed}"

    def to_dict(self) -> dict:
        """Plain values (YAML, JSON, ``torch.load(weights_only=True)``); ``from_dict`` inverts it."""
        return {
            "dataset": self.dataset,
            "dataset_kind": self.dataset_kind,
            "variant": self.variant,
            "seed": self.seed,
            "method": self.method,
            "head": self.head,
            "params": dict(self.params),
            "posthoc": list(self.posthoc),
            "frame": dataclasses.asdict(self.frame),
            "training": self._training_record(),
            "evaluation": dataclasses.asdict(self.evaluation),
            # only a trial has one: a published run's record is what it was before trials existed
            **({"trial": self.trial.to_dict()} if self.trial else {}),
            **({"control": dataclasses.asdict(self.control)} if self.control else {}),
        }

    def _training_record(self) -> dict:
        record, defaults = dataclasses.asdict(self.training), Training()
        return {
            key: value for key, value in record.items() if key not in ADDED_LATER or value != getattr(defaults, key)
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> RunSpec:
        return typed(cls, values, "run")

    def identity_hash(self) -> str:
        """Short hash of the values that determine the run's numbers (resources left out)."""
        values = self.to_dict()
        values["training"] = {k: v for k, v in values["training"].items() if k not in RESOURCE_FIELDS}
        payload = json.dumps(values, sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]


def typed(cls: type, values: Mapping[str, Any], where: str):
    """Build the dataclass ``cls`` from plain values, strictly: unknown keys, wrong types,
    non-finite numbers and values outside a declared field's option (its range, its choices)
    raise ConfigError naming ``where.<key>``; missing keys take defaults. A field without an
    option is converted by its annotated type."""
    hints = typing.get_type_hints(cls) if isinstance(values, Mapping) else {}
    return build(cls, values, where, lambda f, value, at: _coerce(hints[f.name], value, at))


def _coerce(hint: Any, value: Any, where: str) -> Any:
    """``value`` as the annotated type ``hint`` (the few types these records use)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        (inner,) = [o for o in options if o is not type(None)]
        return _coerce(inner, value, where)
    if dataclasses.is_dataclass(hint):
        return typed(hint, value, where)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
        return float(value) if isinstance(value, int) else value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (inner, _) = typing.get_args(hint)
        return tuple(_coerce(inner, item, f"{where}[{i}]") for i, item in enumerate(value))
    if origin in (collections.abc.Mapping, dict):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    raise TypeError(f"{where}: no conversion for {hint!r}")


def git_commit(directory: str | Path | None = None) -> str:
    directory = Path(directory or Path(__file__).resolve().parent)
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=directory,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")
