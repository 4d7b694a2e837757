"""A synthetic image dataset whose confusions resemble real data's (the offline default).

Every class is the leaf of a hierarchy: a planted balanced tree (``branching``) or the tree of a
hierarchy file (its classes, in its order). A class's appearance (its prototype, RGB,
``image_size`` pixels square) has two parts:

- tree-aligned: every non-root node owns a random smooth pattern, and a class sums the
  patterns on its root-to-leaf path, deeper nodes weighing ``level_decay`` times less, so
  classes that share a deeper ancestor share more of their prototype;
- traits: a pool of smooth "trait" patterns (``trait_pool`` x K of them), each class drawing
  ``traits_per_class`` of them at random, regardless of the tree, so that some visual
  look-alikes sit in distant branches (a whale and a shark; a sedan and a bus of one colour).

``alignment`` is the share of a prototype's variance that follows the tree: 1 gives the tree
part alone (classes look alike exactly as the tree says), 0 the traits alone. An image is its
class prototype, circularly shifted by up to ``max_shift`` pixels, plus a per-image smooth
nuisance pattern and per-pixel noise (both relative to the prototypes' spread). Everything
is drawn from one numpy generator seeded by ``seed``: the same spec gives the same bytes.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from ...fileio import write_text
from ...hierarchy import Hierarchy
from ...options import Option, declared
from ..prepared import write_prepared
from .base import DatasetKind, KindFixture, PrepareJob

FREQUENCIES = 4  # smooth patterns: Fourier modes 0..3 per axis, amplitude ~ 1 / (1 + |f|)


@dataclass(frozen=True)
class SyntheticSpec:
    """A dataset's ``synthetic`` section; each field declares its option (``haframe.options``)."""

    branching: tuple[int, ...] = declared(
        Option(
            tuple,
            (3, 3, 3),
            "the planted tree's branching per level, from the root (when no hierarchy file is given)",
            items=Option(int, low=2, high=1000),
            min_items=1,
            max_items=12,  # bounds the planted tree (and the dry run that plants it) to what a study can use
        )
    )
    train_per_class: int = declared(Option(int, 100, "training images per class", low=1, high=100_000))
    val_per_class: int = declared(Option(int, 20, "validation images per class", low=1, high=100_000))
    test_per_class: int = declared(Option(int, 40, "test images per class", low=1, high=100_000))
    image_size: int = declared(Option(int, 16, "the images' side, in pixels", low=8, high=1024))
    alignment: float = declared(
        Option(float, 1.0, "share of a class's appearance that follows the tree (1: only the tree)", low=0, high=1)
    )
    traits_per_class: int = declared(
        Option(int, 2, "visual traits a class shares with random others, regardless of the tree", low=1)
    )
    trait_pool: float = declared(
        Option(float, 0.5, "distinct traits, as a fraction of the number of classes", low=0, low_open=True)
    )
    noise: float = declared(Option(float, 1.0, "per-pixel noise, relative to the prototypes' spread", low=0))
    nuisance: float = declared(
        Option(float, 0.9, "per-image smooth pattern, relative to the prototypes' spread", low=0)
    )
    level_decay: float = declared(
        Option(float, 0.7, "weight of a node's pattern relative to its parent's", low=0, low_open=True)
    )
    max_shift: int = declared(Option(int, 2, "largest circular shift of an image, in pixels", low=0))
    seed: int = declared(Option(int, 0, "the generator's seed: the same spec gives the same bytes", low=0))

    @classmethod
    def from_options(cls, options: dict) -> SyntheticSpec:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(f"synthetic: unknown option {unknown[0]!r}; known: {sorted(known)}")
        values = dict(options)
        if "branching" in values:
            values["branching"] = tuple(values["branching"])
        return cls(**values)


def planted_hierarchy(branching: tuple[int, ...]) -> Hierarchy:
    """A balanced tree: inner nodes ``n<depth>_<path indices>``, leaves ``c<class index>``."""
    paths = []
    for k, index in enumerate(itertools.product(*(range(b) for b in branching))):
        inner = [f"n{d}_" + "_".join(map(str, index[:d])) for d in range(1, len(branching))]
        paths.append(["root", *inner, f"c{k:03d}"])
    return Hierarchy.from_paths(paths, source="synthetic")


def smooth_patterns(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """n random smooth, periodic RGB patterns (sums of low Fourier modes), unit RMS, n x 3 x size x size."""
    f = np.arange(FREQUENCIES)
    phase = (
        2
        * np.pi
        * (
            f[:, None, None, None] * np.arange(size)[None, None, :, None]
            + f[None, :, None, None] * np.arange(size)[None, None, None, :]
        )
        / size
    )
    basis = np.concatenate([np.cos(phase), np.sin(phase)]).reshape(2 * FREQUENCIES**2, size * size)
    decay = 1.0 / (1.0 + np.hypot(f[:, None], f[None, :])).ravel()
    coefficients = rng.standard_normal((n, 3, 2 * FREQUENCIES**2)) * np.concatenate([decay, decay])
    patterns = (coefficients @ basis).reshape(n, 3, size, size)
    return patterns / np.sqrt((patterns**2).mean(axis=(1, 2, 3), keepdims=True))


def _unit_rms(x: np.ndarray) -> np.ndarray:
    return x / np.sqrt((x**2).mean(axis=(1, 2, 3), keepdims=True))


def class_prototypes(hierarchy: Hierarchy, spec: SyntheticSpec, rng: np.random.Generator) -> np.ndarray:
    """K x 3 x size x size prototypes: sqrt(alignment) tree part + sqrt(1 - alignment) traits."""
    names, depths = hierarchy.nodes()
    index = {name: i for i, name in enumerate(names)}
    node_patterns = smooth_patterns(len(names), spec.image_size, rng)
    K = hierarchy.num_classes
    path_weights = np.zeros((K, len(names)))
    for k, path in enumerate(hierarchy.paths):  # once per dataset
        for node in path[1:]:
            path_weights[k, index[node]] = spec.level_decay ** (depths[index[node]] - 1)
    tree = _unit_rms(np.einsum("kn,nchw->kchw", path_weights, node_patterns))
    pool = max(spec.traits_per_class, round(spec.trait_pool * K))
    trait_patterns = smooth_patterns(pool, spec.image_size, rng)
    chosen = np.argsort(rng.random((K, pool)), axis=1)[:, : spec.traits_per_class]  # without replacement
    traits = _unit_rms(trait_patterns[chosen].sum(axis=1))
    return np.sqrt(spec.alignment) * tree + np.sqrt(1.0 - spec.alignment) * traits


def _sample(prototypes: np.ndarray, per_class: int, spec: SyntheticSpec, rng: np.random.Generator):
    K = prototypes.shape[0]
    labels = np.repeat(np.arange(K), per_class)
    images = prototypes[labels].copy()
    shifts = rng.integers(-spec.max_shift, spec.max_shift + 1, (len(labels), 2))
    for axis, column in ((2, 0), (3, 1)):  # vectorised per shift value
        for shift in range(-spec.max_shift, spec.max_shift + 1):
            rows = shifts[:, column] == shift
            images[rows] = np.roll(images[rows], shift, axis=axis)
    images += spec.nuisance * smooth_patterns(len(labels), spec.image_size, rng)
    images += spec.noise * rng.standard_normal(images.shape)
    return images, labels


def _to_uint8(images: np.ndarray, spread: float) -> np.ndarray:
    scaled = np.clip((images + spread) / (2 * spread), 0.0, 1.0) * 255
    return np.ascontiguousarray(np.rint(scaled).astype(np.uint8).transpose(0, 2, 3, 1))


def generate(
    spec: SyntheticSpec, hierarchy: Hierarchy | None = None
) -> tuple[Hierarchy, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """The hierarchy (planted unless given) and {split: (uint8 N x H x W x 3 images, int64 labels)}."""
    hierarchy = hierarchy or planted_hierarchy(spec.branching)
    rng = np.random.default_rng(spec.seed)
    prototypes = class_prototypes(hierarchy, spec, rng)
    spread = 3.0 * (1.0 + spec.noise + spec.nuisance)  # prototypes have unit RMS
    splits = {}
    for split, per_class in (
        ("train", spec.train_per_class),
        ("val", spec.val_per_class),
        ("test", spec.test_per_class),
    ):
        images, labels = _sample(prototypes, per_class, spec, rng)
        splits[split] = (_to_uint8(images, spread), labels)
    return hierarchy, splits


def prepare_job(job: PrepareJob) -> dict:
    """The dataset in the arrays layout, plus ``hierarchy.tsv`` when the tree is planted."""
    spec = SyntheticSpec.from_options(dict(job.options.get("synthetic") or {}))
    hierarchy, splits = generate(spec, job.hierarchy)
    meta = write_prepared(job.out_dir, list(hierarchy.classes), splits, transform="none")
    if job.hierarchy is None:
        write_text(Path(job.out_dir) / "hierarchy.tsv", hierarchy.to_tsv())
    return meta


def split_sizes(section) -> dict[str, int] | None:
    """Images per split: per-class counts times the classes (known for a planted tree, or from
    the dataset's ``classes``)."""
    spec = SyntheticSpec.from_options(dict(section.get("synthetic") or {}))
    classes = section.get("classes") if "hierarchy" in section else math.prod(spec.branching)
    if not classes:
        return None
    return {
        "train": spec.train_per_class * classes,
        "val": spec.val_per_class * classes,
        "test": spec.test_per_class * classes,
    }


def planted_tree(section) -> Hierarchy:
    """The balanced tree of ``synthetic.branching`` that the preparation plants."""
    return planted_hierarchy(SyntheticSpec.from_options(dict(section.get("synthetic") or {})).branching)


def fixture(root: Path, *, hierarchy: Hierarchy | None = None) -> KindFixture:
    """Nothing on disk (the preparation generates the images): 8-pixel images of a planted
    2 x 2 tree, or of ``hierarchy``'s classes; 3 / 2 / 2 images per class."""
    spec = {"branching": [2, 2], "train_per_class": 3, "val_per_class": 2, "test_per_class": 2, "image_size": 8}
    K = (hierarchy or planted_hierarchy(tuple(spec["branching"]))).num_classes
    return KindFixture(
        sources={},
        options={"synthetic": spec},
        hierarchy=hierarchy,
        counts={split: (spec[f"{split}_per_class"] * K, K) for split in ("train", "val", "test")},
    )


KIND = DatasetKind(
    name="synthetic",
    prepare=prepare_job,
    fixture=fixture,
    split_sizes=split_sizes,
    options={
        "synthetic": Option(
            SyntheticSpec, SyntheticSpec(), "the generated data: its planted tree, sizes and appearance"
        )
    },
    plants_hierarchy=True,
    planted_tree=planted_tree,
    mem_mb=2_000,
    runtime_min=10,
)
