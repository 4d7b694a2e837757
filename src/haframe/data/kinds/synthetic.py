"""A synthetic image dataset with a planted hierarchy (the offline default).

Every tree node owns a random smooth colour pattern; a class's prototype is the sum of the
patterns on its root-to-leaf path, with deeper nodes weighing less. Classes that share a
deeper ancestor therefore share more of their prototype and look more alike. An image is
its class prototype, randomly shifted, plus a random smooth nuisance pattern and pixel noise.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ...hierarchy import Hierarchy
from ...io import write_text
from ..prepared import write_prepared
from .base import DatasetKind, PrepareJob


@dataclass(frozen=True)
class SyntheticSpec:
    branching: tuple[int, ...] = (3, 3, 3)
    train_per_class: int = 100
    val_per_class: int = 20
    test_per_class: int = 40
    image_size: int = 32
    noise: float = 1.0  # per-pixel noise, relative to the prototypes' spread
    nuisance: float = 0.9  # per-image random smooth pattern (same scale as a class's patterns)
    level_decay: float = 0.7  # weight of a node's pattern relative to its parent's
    max_shift: int = 3
    seed: int = 0


def planted_hierarchy(branching: tuple[int, ...]) -> Hierarchy:
    """A balanced tree: inner nodes ``n<depth>_<path indices>``, leaves ``c<class index>``."""
    paths = []
    for k, index in enumerate(itertools.product(*(range(b) for b in branching))):
        inner = [f"n{d}_" + "_".join(map(str, index[:d])) for d in range(1, len(branching))]
        paths.append(["root", *inner, f"c{k:03d}"])
    return Hierarchy.from_paths(paths, source="synthetic")


def _smooth_patterns(n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """n random low-frequency RGB patterns, unit RMS, n x 3 x size x size."""
    coarse = torch.randn(n, 3, 4, 4, generator=generator)
    fine = torch.randn(n, 3, 8, 8, generator=generator)
    up = lambda x: F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False)
    pattern = up(coarse) + 0.5 * up(fine)
    return pattern / pattern.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt()


def class_prototypes(hierarchy: Hierarchy, spec: SyntheticSpec, generator: torch.Generator) -> torch.Tensor:
    nodes = sorted({n for p in hierarchy.paths for n in p[1:]})
    index = {n: i for i, n in enumerate(nodes)}
    patterns = _smooth_patterns(len(nodes), spec.image_size, generator)
    prototypes = torch.zeros(hierarchy.num_classes, 3, spec.image_size, spec.image_size)
    for k, path in enumerate(hierarchy.paths):
        for depth, node in enumerate(path[1:]):
            prototypes[k] += spec.level_decay**depth * patterns[index[node]]
    return prototypes


def _sample(prototypes: torch.Tensor, per_class: int, spec: SyntheticSpec, g: torch.Generator):
    K = prototypes.shape[0]
    labels = torch.arange(K).repeat_interleave(per_class)
    images = prototypes[labels].clone()
    shifts = torch.randint(-spec.max_shift, spec.max_shift + 1, (len(labels), 2), generator=g)
    for dy in range(-spec.max_shift, spec.max_shift + 1):  # vectorised per shift value
        rows = shifts[:, 0] == dy
        images[rows] = torch.roll(images[rows], dy, dims=2)
    for dx in range(-spec.max_shift, spec.max_shift + 1):
        cols = shifts[:, 1] == dx
        images[cols] = torch.roll(images[cols], dx, dims=3)
    scale = prototypes.std()
    images += spec.nuisance * _smooth_patterns(len(labels), spec.image_size, g) * scale
    images += spec.noise * torch.randn(images.shape, generator=g) * scale
    return images, labels


def _to_uint8(images: torch.Tensor, lo: float, hi: float) -> np.ndarray:
    scaled = ((images - lo) / (hi - lo)).clamp(0, 1) * 255
    return scaled.round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def generate(spec: SyntheticSpec) -> tuple[Hierarchy, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """The planted hierarchy and {split: (uint8 N x H x W x 3 images, int64 labels)}."""
    hierarchy = planted_hierarchy(spec.branching)
    g = torch.Generator().manual_seed(spec.seed)
    prototypes = class_prototypes(hierarchy, spec, g)
    spread = 3.0 * prototypes.std() * (1 + spec.noise + spec.nuisance)
    splits = {}
    for split, per_class in (("train", spec.train_per_class), ("val", spec.val_per_class), ("test", spec.test_per_class)):
        images, labels = _sample(prototypes, per_class, spec, g)
        splits[split] = (_to_uint8(images, -spread, spread), labels.numpy())
    return hierarchy, splits


def prepare(spec: dict, out_dir: str | Path) -> dict:
    """Generate the dataset into the prepared layout plus ``hierarchy.tsv``; return meta."""
    spec = SyntheticSpec(**{**spec, "branching": tuple(spec.get("branching", SyntheticSpec.branching))})
    hierarchy, splits = generate(spec)
    meta = write_prepared(out_dir, list(hierarchy.classes), splits)
    write_text(Path(out_dir) / "hierarchy.tsv", hierarchy.to_tsv())
    return meta


def prepare_job(job: PrepareJob) -> dict:
    return prepare(dict(job.options.get("synthetic") or {}), job.out_dir)


KIND = DatasetKind(
    name="synthetic",
    prepare=prepare_job,
    options=("synthetic",),
    needs_hierarchy=False,
    mem_mb=2_000, runtime_min=10,
)
