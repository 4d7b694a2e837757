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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Mapping

from .data.prepared import AUGMENT_ON

# Resources that do not change a run's numbers: left out of its identity hash.
RESOURCE_FIELDS = ("threads", "workers")
# Training settings added after runs were recorded: left out of a run's record while at their
# default, so that an upgrade keeps the identity (and Snakemake's params) of the runs before them.
ADDED_LATER = ("augment_on",)


class ConfigError(ValueError):
    """The configuration cannot describe a valid study; the message names the field."""


@dataclass(frozen=True)
class LrScale:
    """Multipliers of lr(e) per parameter group (README, "The method" 5)."""

    backbone: float = 0.1  # the backbone and the type-II 1x1 projection
    head: float = 1.0  # type-I 2048 -> 600 block, type-II BN + transformation layer
    classifier: float = 1.0
    type_II_head: float | None = None  # replaces `head` for type-II heads when set

    def of_head(self, head: str) -> float:
        return self.type_II_head if head == "II" and self.type_II_head is not None else self.head


@dataclass(frozen=True)
class Training:
    """How a run trains; the defaults are the published protocol (README, "The method" 5)."""

    epochs: int = 100
    batch_size: int = 64
    lr: float = 0.1  # lr(e) = lr/2 (1 + cos(pi e / E))
    lr_scale: LrScale = LrScale()
    momentum: float = 0.9
    weight_decay: float = 5.0e-4
    backbone: str = "resnet50"
    pretrained: str | None = "imagenet1k_v1"
    feature_dim: int | None = None  # type-II feature width d; None: the method's output width
    type_I_width: int | None = 600  # ResNet-50 type-I head width; None: K
    device: str = "auto"
    precision: str = "fp32"
    channels_last: bool = False
    compile: str | None = None  # a torch.compile backend ("inductor"); None: eager
    fused_optimizer: bool = False  # SGD's fused kernel (the for-loop kernel's numbers, bench/README.md)
    augment_on: str = "workers"  # image datasets: "device" resizes and flips the workers' crops on the device
    deterministic: bool = True
    nc_every: int = 5  # a neural-collapse pass after every nc_every-th epoch and the last (the authors: 5)
    chance_patience: int | None = None  # stop the run when its training error stays at chance this many epochs
    threads: int = 1  # torch threads per job (a resource: not part of the identity)
    workers: int = 0  # DataLoader worker processes per job (a resource too)

    def __post_init__(self):
        if self.augment_on not in AUGMENT_ON:
            raise ConfigError(f"training.augment_on: expected one of {', '.join(AUGMENT_ON)}, got {self.augment_on!r}")


@dataclass(frozen=True)
class Evaluation:
    batch_size: int | None = 256  # None: sized by device (AUTOMATIC_BATCH)
    drop_last: bool = False  # True reproduces the authors' loaders (last partial batch unscored)

    # no-grad batches, by device type: a GPU scores large batches faster, a CPU gains nothing above 256
    AUTOMATIC_BATCH: ClassVar[dict[str, int]] = {"cpu": 256, "cuda": 1024}

    def __post_init__(self):
        if self.batch_size is None and self.drop_last:
            raise ConfigError("evaluation.batch_size: null (sized by device) cannot go with drop_last: true, "
                              "whose unscored images depend on the batch size; set a batch size")

    def batch_size_on(self, device_type: str) -> int:
        """The batch size on a device of type ``device_type`` (``torch.device.type``)."""
        return self.batch_size or self.AUTOMATIC_BATCH.get(device_type, self.AUTOMATIC_BATCH["cuda"])


@dataclass(frozen=True)
class FrameSpec:
    gamma: float
    solver: str = "grid"


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

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", types.MappingProxyType(dict(self.params)))

    @property
    def name(self) -> str:
        """dataset/variant/seedN: what identifies the run in paths, logs and MLflow."""
        return f"{self.dataset}/{self.variant}/seed{self.seed}"

    def to_dict(self) -> dict:
        """Plain values (YAML, JSON, ``torch.load(weights_only=True)``); ``from_dict`` inverts it."""
        return {
            "dataset": self.dataset, "dataset_kind": self.dataset_kind, "variant": self.variant,
            "seed": self.seed, "method": self.method, "head": self.head, "params": dict(self.params),
            "posthoc": list(self.posthoc), "frame": dataclasses.asdict(self.frame),
            "training": self._training_record(), "evaluation": dataclasses.asdict(self.evaluation),
        }

    def _training_record(self) -> dict:
        record, defaults = dataclasses.asdict(self.training), Training()
        return {key: value for key, value in record.items() if key not in ADDED_LATER or value != getattr(defaults, key)}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "RunSpec":
        return typed(cls, values, "run")

    def identity_hash(self) -> str:
        """Short hash of the values that determine the run's numbers (resources left out)."""
        values = self.to_dict()
        values["training"] = {k: v for k, v in values["training"].items() if k not in RESOURCE_FIELDS}
        payload = json.dumps(values, sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]


def typed(cls: type, values: Mapping[str, Any], where: str):
    """Build the dataclass ``cls`` from plain values, strictly: unknown keys, wrong types and
    non-finite numbers raise ConfigError naming ``where.<key>``; missing keys take defaults."""
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {values!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}: unknown key; known: {sorted(fields)}")
    kwargs = {}
    for name, f in fields.items():
        if name in values:
            kwargs[name] = _coerce(hints[name], values[name], f"{where}.{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{where}.{name}: required")
    return cls(**kwargs)


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
            cwd=directory, capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")
