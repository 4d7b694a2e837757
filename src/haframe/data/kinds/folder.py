"""Bring your own data: an image folder ``<root>/{train,val,test}/<class>/<image>`` whose
classes are the leaves of a hierarchy file in the project's format."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from ...hierarchy import Hierarchy
from ...options import Option
from ..files import ImageTask, convert_images, write_index
from ..prepared import SPLITS, DataError, write_meta
from ..recipes import IMAGE_RECIPES, RECIPES
from ..transforms import NORMALISATION
from .base import STORE, DatasetKind, KindFixture, PrepareJob

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def _images(folder: Path) -> list[Path]:
    """A class folder's images: files with an image suffix, hidden ones (``.*``, macOS's
    ``._*``) skipped; two with the same stem (``a.png``, ``a.jpg``) are refused, naming both (both
    would be prepared as ``a.jpg``)."""
    if not folder.is_dir():
        return []
    images = sorted(
        p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()
    )
    stems: dict[str, Path] = {}
    for image in images:
        if image.stem in stems:
            raise DataError(
                f"{stems[image.stem]} and {image}: two images with the same name but for the suffix; "
                "rename one (each is prepared as <name>.jpg)"
            )
        stems[image.stem] = image
    return images


def scan(root: Path, classes: Sequence[str]) -> dict[str, list[tuple[Path, int]]]:
    """{split: [(image path, label)]}; every class folder must be a hierarchy class."""
    index = {name: i for i, name in enumerate(classes)}
    found: dict[str, list[tuple[Path, int]]] = {}
    for split in SPLITS:
        folder = root / split
        if not folder.is_dir():
            raise DataError(
                f"{root}: missing the '{split}' folder (expected {root}/{{train,val,test}}/<class>/<image>)"
            )
        unknown = sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name not in index)
        if unknown:
            raise DataError(f"{folder}: class folders not in the hierarchy: {unknown[:10]}")
        found[split] = [(image, index[name]) for name in classes for image in _images(folder / name)]
    empty = [name for name, i in index.items() if not any(label == i for _, label in found["train"])]
    if empty:
        raise DataError(f"{root}/train: hierarchy classes without training images: {empty[:10]}")
    return found


def prepare(
    root: str | Path,
    out_dir: str | Path,
    classes: Sequence[str],
    *,
    transform: str = "imagenet",
    size: int | None = None,
    input_size: int = 224,
    threads: int = 1,
    log: Callable[[str], None] = lambda m: None,
) -> dict:
    """Re-encode the folder into the images layout, stretched to ``size`` once when set;
    ``input_size`` is the network's input size that the ``transform`` recipe produces."""
    root, out_dir = Path(root), Path(out_dir)
    found = scan(root, classes)
    for split, items in found.items():
        rows = []
        tasks = []
        for image, label in items:
            relative = Path("images") / split / classes[label] / (image.stem + ".jpg")
            rows.append((relative.as_posix(), label))
            tasks.append(ImageTask(image.read_bytes, out_dir / relative, str(image)))
        convert_images(tasks, size=size, threads=threads, log=log)
        write_index(out_dir, split, rows)
        log(f"{split}: {len(rows)} images")
    mean, std = NORMALISATION[transform]
    return write_meta(
        out_dir,
        list(classes),
        layout="images",
        counts={s: len(items) for s, items in found.items()},
        mean=list(mean),
        std=list(std),
        transform=transform,
        image_size=input_size,
    )


def user_inputs(options, name: str) -> dict[str, str]:
    folder = Path(options["folder"]).expanduser()
    if not folder.is_dir():
        raise DataError(
            f"datasets.{name}.folder = {folder} is not a folder (expected <folder>/{{train,val,test}}/<class>/<image>)"
        )
    return {"folder": str(folder)}


def check_classes(section, classes: Sequence[str], name: str) -> None:
    """The hierarchy's leaves against the folder's class folders, before any job (a folder
    listing per split): every leaf needs a ``train/<leaf>`` folder with an image, and every class
    folder of any split must be a leaf; both sides of a mismatch are named."""
    root = Path(section["folder"]).expanduser()
    if not root.is_dir():
        return  # user_inputs names it
    leaves = set(classes)
    folders = {
        entry.name
        for split in SPLITS
        if (root / split).is_dir()
        for entry in (root / split).iterdir()
        if entry.is_dir() and not entry.name.startswith(".")
    }
    trained = {leaf for leaf in leaves if _images(root / "train" / leaf)}
    without_images, without_leaf = sorted(leaves - trained), sorted(folders - leaves)
    if without_images or without_leaf:
        sides = [
            f"leaves without a {root}/train/<leaf> folder of images: {without_images[:10]}" if without_images else "",
            f"class folders that are no leaf of the hierarchy: {without_leaf[:10]}" if without_leaf else "",
        ]
        raise DataError(
            f"datasets.{name}: the hierarchy and the folder {root} disagree: " + "; ".join(filter(None, sides))
        )


def split_sizes(section) -> dict[str, int] | None:
    """Images per split, counted in the folder (a directory listing per class; None when the
    folder is not there, which ``user_inputs`` reports)."""
    root = Path(section["folder"]).expanduser()
    if not root.is_dir():
        return None
    return {
        split: sum(
            1
            for folder in (root / split).iterdir()
            if folder.is_dir()
            for image in folder.iterdir()
            if image.suffix.lower() in IMAGE_SUFFIXES
        )
        if (root / split).is_dir()
        else 0
        for split in SPLITS
    }


def files_mb(section) -> float | None:
    """The folder's images on disk, what their prepared copies take give or take the re-encoding
    (None where the folder is not there)."""
    root = Path(section["folder"]).expanduser()
    if not root.is_dir():
        return None
    return (
        sum(
            image.stat().st_size
            for split in SPLITS
            if (root / split).is_dir()
            for folder in (root / split).iterdir()
            if folder.is_dir()
            for image in folder.iterdir()
            if image.suffix.lower() in IMAGE_SUFFIXES
        )
        / 2**20
    )


def prepare_job(job: PrepareJob) -> dict:
    options = job.options
    return prepare(
        job.inputs["folder"],
        job.out_dir,
        job.classes,
        transform=options.get("transform", "imagenet"),
        size=options.get("resize"),
        input_size=options.get("input_size", 224),
        threads=job.threads,
        log=job.log,
    )


# class -> (parent, colour): the fixture's hierarchy, in class order
FIXTURE_CLASSES = {
    "cat": ("animal", (200, 40, 40)),
    "dog": ("animal", (220, 90, 60)),
    "car": ("vehicle", (40, 40, 200)),
    "bus": ("vehicle", (60, 90, 220)),
}


def fixture(root: Path, *, per_split: tuple[int, int, int] = (6, 2, 3)) -> KindFixture:
    """The folder ``root`` itself: per class, ``per_split`` (train, val, test) 40 x 40 PNGs of
    its colour plus noise; prepared at 32 pixels."""
    root = Path(root)
    rng = np.random.default_rng(0)
    for split, n in zip(SPLITS, per_split):
        for name, (_, colour) in FIXTURE_CLASSES.items():
            (root / split / name).mkdir(parents=True)
            for i in range(n):
                pixels = np.clip(np.array(colour) + rng.normal(0, 25, (40, 40, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(root / split / name / f"{name}_{i}.png")
    return KindFixture(
        sources={},
        options={"folder": str(root), "input_size": 32},
        hierarchy=Hierarchy.from_paths([["root", parent, name] for name, (parent, _) in FIXTURE_CLASSES.items()]),
        counts={split: (n * len(FIXTURE_CLASSES), len(FIXTURE_CLASSES)) for split, n in zip(SPLITS, per_split)},
    )


KIND = DatasetKind(
    name="folder",
    prepare=prepare_job,
    fixture=fixture,
    user_inputs=user_inputs,
    split_sizes=split_sizes,
    check_classes=check_classes,
    files_mb=files_mb,
    options={
        "folder": Option(str, None, "the images: <folder>/{train,val,test}/<class>/<image>", required=True),
        "transform": Option(
            str,
            "imagenet",
            "the published transform recipe the images train with (haframe.data.recipes.RECIPES)",
            choices=IMAGE_RECIPES,
        ),
        "resize": Option(
            int,
            None,
            "stretch the images to this size once, while preparing (null: keep their own)",
            low=8,
            nullable=True,
        ),
        "input_size": Option(
            int,
            224,
            "the square network input, in pixels (224: ImageNet-sized photos; your "
            "images' size for small ones, e.g. 32)",
            low=8,
        ),
        "store": STORE,
    },
    bounded_crops=lambda section: (
        section.get("resize") is not None or RECIPES[section.get("transform", "imagenet")].resize_first
    ),
    threads=8,
    mem_mb=4_000,
    runtime_min=6 * 60,
)
