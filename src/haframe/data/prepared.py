"""Prepared datasets: what every loader reads, in one of two layouts named in ``meta.json``.

``arrays`` (small images held in memory: synthetic, CIFAR-100): ``<dir>/{train,val,test}.npz``
with ``images`` (uint8, N x H x W x 3) and ``labels`` (int64).
``images`` (image files decoded by DataLoader workers): see ``loaders.py``.
Both have ``classes.txt`` (class-index order) and ``meta.json`` (layout, counts, mean/std,
transform recipe), written last: its presence means the preparation completed, and its path
names the prepared dataset (the other files sit beside it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..fileio import load_npz, read_json, save_npz, write_json, write_text
from .recipes import RECIPES

SPLITS = ("train", "val", "test")
AUGMENT_ON = ("workers", "device")  # where the images layout's training transforms run (training.augment_on)


class DataError(ValueError):
    """Prepared data that does not match what the dataset must contain."""


def write_prepared(
    directory: str | Path,
    classes: list[str],
    splits: dict[str, tuple[np.ndarray, np.ndarray]],
    *,
    transform: str,
    normalisation: tuple[tuple[float, ...], tuple[float, ...]] | None = None,
) -> dict:
    """Write the arrays layout; ``transform`` names its training augmentation (``cifar``:
    reflect-pad 4, random crop, flip; ``none``); mean/std are the published ones if given,
    else measured."""
    directory = Path(directory)
    if normalisation is None:
        train_images = splits["train"][0].astype(np.float64) / 255.0
        normalisation = (train_images.mean(axis=(0, 1, 2)).tolist(), train_images.std(axis=(0, 1, 2)).tolist())
    for split, (images, labels) in splits.items():
        save_npz(directory / f"{split}.npz", images=images, labels=labels.astype(np.int64))
    return write_meta(
        directory,
        classes,
        layout="arrays",
        counts={split: int(len(labels)) for split, (_, labels) in splits.items()},
        mean=list(normalisation[0]),
        std=list(normalisation[1]),
        image_size=int(splits["train"][0].shape[1]),
        transform=transform,
    )


def write_meta(directory: str | Path, classes: list[str], **meta) -> dict:
    """classes.txt, then meta.json last (its presence marks a complete preparation)."""
    meta = {"num_classes": len(classes), **meta}
    write_text(Path(directory) / "classes.txt", "".join(c + "\n" for c in classes))
    write_json(Path(directory) / "meta.json", meta)
    return meta


def check_counts(dataset: str, found: dict[str, tuple[int, int]], expected: dict[str, tuple[int, int]]) -> None:
    """Fail unless every split has the expected (images, classes); names split and numbers."""
    for split, (images, classes) in expected.items():
        got_images, got_classes = found.get(split, (0, 0))
        if (got_images, got_classes) != (images, classes):
            raise DataError(
                f"{dataset}: split {split!r} has {got_images} images in {got_classes} classes; "
                f"expected {images} images in {classes} classes"
            )


def read_classes(path: str | Path) -> list[str]:
    return [line for line in Path(path).read_text().splitlines() if line]


def read_split(meta_file: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) of one split of an ``arrays`` dataset."""
    arrays = load_npz(Path(meta_file).with_name(f"{split}.npz"))
    return arrays["images"], arrays["labels"]


def read_meta(meta_file: str | Path) -> dict:
    return read_json(meta_file)


def data_path(meta: dict, augment_on: str) -> str:
    """How a run's training images reach the model (``meta``: the dataset's; ``augment_on``:
    training.augment_on), in words, for its metrics.json and the report."""
    if meta["layout"] == "arrays":
        return "arrays in memory, augmented on the device"
    source = "pixel store" if meta.get("pixels") else "JPEG files decoded in the workers"
    if augment_on == "device" and RECIPES[meta["transform"]].resize_first:
        return f"{source}, resized and cropped in the workers, flipped on the device"
    if augment_on == "device":
        return f"{source}, cropped in the workers, resized and flipped on the device"
    return f"{source}, the published transforms in the workers"
