"""What every dataset-kind module exports: one ``DatasetKind`` record, as its ``KIND``.

A kind knows where its files come from (``sources``: downloaded, verified, extracted by the
workflow), what the user must provide (``user_inputs``: e.g. ImageNet for tieredImageNet-H,
checked when the workflow is built; ``unavailable`` says why a dataset cannot be built while
the user has not set them, so that the workflow leaves it out), how many images each split
holds before anything is prepared (``split_sizes``: for validation and the study summary),
which keys of a dataset's config section it reads (``options``: each key's ``Option``, its
type, default, range and meaning, checked by the study), the resources its
preparation needs, and ``prepare``: extracted sources and user inputs in, a prepared dataset
(``haframe.data.prepared``) out. Torch-free.

Every kind also has a ``fixture``: ``fixture(root: Path) -> KindFixture`` writes under ``root``
a tiny dataset in the kind's real formats (its sources as downloaded, the user's inputs) and
says how to prepare it and what the preparation must give. The contract suite
(``tests/contract``) prepares every registered kind's fixture as the workflow would, so a new
kind is tested by writing its fixture. For the kind's own tests, keyword-only arguments after
``root`` may vary it, and it may return a subclass of ``KindFixture`` that holds what they check.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ...hierarchy import Hierarchy
from ...options import Option


@dataclass(frozen=True)
class Source:
    """One downloaded file: upstream URL and published checksums (None: pinned by the lock file
    at first download), and the disk room its download needs (its extraction twice that)."""

    url: str
    filename: str
    sha256: str | None = None
    md5: str | None = None
    disk_mb: int = 2_000


@dataclass(frozen=True)
class PrepareJob:
    """What a preparation gets: the dataset's name and config section, its inputs by key (the
    extracted sources and the user's inputs), the dataset's hierarchy (None when the kind
    plants its own), the ``meta.json`` to write last (the prepared files go beside it), and the
    job's threads and log."""

    dataset: str
    options: Mapping[str, Any]
    inputs: Mapping[str, Path]
    hierarchy: Hierarchy | None
    meta_file: Path
    threads: int = 1
    log: Callable[[str], None] = lambda message: None

    @property
    def out_dir(self) -> Path:
        return Path(self.meta_file).parent

    @property
    def classes(self) -> tuple[str, ...]:
        """The hierarchy's classes, in class-index order."""
        return self.hierarchy.classes

    def expected_counts(self, published: Mapping[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
        """Per split (images, classes): the config's ``counts`` where given, else ``published``."""
        counts = self.options.get("counts") or published
        return {split: tuple(value) for split, value in counts.items()}


@dataclass(frozen=True)
class KindFixture:
    """A tiny dataset of a kind, as its ``fixture(root)`` wrote it under ``root``.

    ``sources``: for every key of the kind's ``sources``, the file as downloaded (the workflow
    extracts it with ``haframe.archives.safe_extract`` into the folder that ``job.inputs[key]`` names);
    ``options``: the dataset's config section, keys of the kind's ``options`` only (the user's
    inputs among them, e.g. ``folder``, as paths under ``root``); ``hierarchy``: the dataset's
    hierarchy, None for a kind that plants its own; ``counts``: per split, the (images, classes)
    the preparation must give.
    """

    sources: Mapping[str, Path]
    options: Mapping[str, Any]
    hierarchy: Hierarchy | None
    counts: Mapping[str, tuple[int, int]]


@dataclass(frozen=True)
class DatasetKind:
    name: str
    prepare: Callable[[PrepareJob], dict]
    # root -> a tiny dataset of this kind written under root (KindFixture; the contract suite's input)
    fixture: Callable[[Path], KindFixture]
    sources: Mapping[str, Source] = field(default_factory=dict)
    user_inputs: Callable[[Mapping[str, Any], str], dict[str, str]] | None = None
    # (dataset section, dataset name) -> why it cannot be built yet (its user inputs unset), or None
    unavailable: Callable[[Mapping[str, Any], str], str | None] | None = None
    # (dataset section, the hierarchy's classes, dataset name) -> raises DataError where the
    # user's files and the hierarchy disagree (checked before any job, where the tree is known)
    check_classes: Callable[[Mapping[str, Any], Sequence[str], str], None] | None = None
    # dataset section -> {split: images}, known before preparation (None: not known)
    split_sizes: Callable[[Mapping[str, Any]], dict[str, int] | None] = lambda section: None
    # kind-specific keys of a dataset's config section, each with its option (``required``: a
    # dataset of this kind must set it)
    options: Mapping[str, Option] = field(default_factory=dict)
    # the splits its preparation gives (an evaluation-only kind, whose models were trained
    # elsewhere: test only)
    splits: tuple[str, ...] = ("train", "val", "test")
    plants_hierarchy: bool = False  # True: without a `hierarchy` section, the preparation writes its own
    # dataset section -> the tree its preparation plants (known from the config), for the checks
    # that need the tree before any job runs (None: not known before preparation)
    planted_tree: Callable[[Mapping[str, Any]], Hierarchy] | None = None
    # dataset section -> whether the training crops have a bounded size (training.augment_on:
    # device pads a batch's crops to the largest): images prepared at one size, or resized by
    # the recipe before it crops (fgvc)
    bounded_crops: Callable[[Mapping[str, Any]], bool] = lambda section: True
    threads: int = 1
    mem_mb: int = 4_000
    runtime_min: int = 60
    disk_mb: int = 2_000  # room the prepared dataset needs
    # dataset section -> the room its prepared files need, measured on the user's files before
    # preparation (None: not measurable now; ``disk_mb`` then)
    files_mb: Callable[[Mapping[str, Any]], float | None] | None = None

    def sources_for(self, overrides: Mapping[str, str] | None) -> dict[str, Source]:
        """The kind's sources with a dataset's overrides of their location (checksums kept)."""
        sources = dict(self.sources)
        for key, location in (overrides or {}).items():
            if key not in sources:
                raise KeyError(f"{self.name} has no source {key!r}; its sources: {sorted(sources)}")
            sources[key] = replace(sources[key], url=location)
        return sources


def source_overrides() -> Option:
    """The ``sources`` option of a kind that downloads (its keys: the kind's sources)."""
    return Option(
        dict,
        {},
        "replace a download's location (local path, file:// or http(s) URL); checksums stay",
        values=Option(str, "", "the source's location"),
    )


def expected_counts(published: Mapping[str, tuple[int, int]]) -> Option:
    """The ``counts`` option of a kind with published counts ({split: (images, classes)})."""
    return Option(
        dict,
        {split: list(value) for split, value in published.items()},
        "expected [images, classes] per split (default: the published numbers)",
        fields={
            split: Option(
                list,
                list(value),
                f"[images, classes] of the {split} split",
                items=Option(int, low=0),
                min_items=2,
                max_items=2,
            )
            for split, value in published.items()
        },
    )


def splits_digest(published: str) -> Option:
    """The ``splits_digest`` option of a kind whose split lists are checked by their content digest."""
    return Option(
        str, published, "content digest of the split lists (default: the published one; null: unchecked)", nullable=True
    )


# ``store``: the option of every images-layout kind (scripts/prepare.py writes the pixel store)
STORE = Option(
    str,
    "jpeg",
    "image datasets: jpeg files, or also a pixel store, the images decoded once (no decoding "
    "while training, the same images; 147 KiB per image at 224 px)",
    choices=("jpeg", "pixels"),
)


def published_sizes(published: Mapping[str, tuple[int, int]]) -> Callable[[Mapping[str, Any]], dict[str, int]]:
    """``split_sizes`` of a kind with published counts ({split: (images, classes)}), which a
    dataset's ``counts`` replaces."""

    def sizes(section: Mapping[str, Any]) -> dict[str, int]:
        counts = section.get("counts") or published
        return {split: int(value[0]) for split, value in counts.items()}

    return sizes
