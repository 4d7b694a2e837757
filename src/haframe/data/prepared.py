"""The prepared-dataset layout every loader reads: ``<dir>/{train,val,test}.npz`` holding
``images`` (uint8, N x H x W x 3) and ``labels`` (int64), ``classes.txt`` (class-index order)
and ``meta.json`` (per-channel mean/std of the training images, counts)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io import load_npz, read_json, save_npz, write_json, write_text

SPLITS = ("train", "val", "test")


def write_prepared(directory: str | Path, classes: list[str], splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict:
    directory = Path(directory)
    train_images = splits["train"][0].astype(np.float64) / 255.0
    meta = {
        "num_classes": len(classes),
        "image_size": int(train_images.shape[1]),
        "mean": train_images.mean(axis=(0, 1, 2)).tolist(),
        "std": train_images.std(axis=(0, 1, 2)).tolist(),
        "counts": {split: int(len(labels)) for split, (_, labels) in splits.items()},
    }
    for split, (images, labels) in splits.items():
        save_npz(directory / f"{split}.npz", images=images, labels=labels.astype(np.int64))
    write_text(directory / "classes.txt", "".join(c + "\n" for c in classes))
    write_json(directory / "meta.json", meta)
    return meta


def read_classes(path: str | Path) -> list[str]:
    return [line for line in Path(path).read_text().splitlines() if line]


def read_split(directory: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    arrays = load_npz(Path(directory) / f"{split}.npz")
    return arrays["images"], arrays["labels"]


def read_meta(directory: str | Path) -> dict:
    return read_json(Path(directory) / "meta.json")
