"""CIFAR-100 from the extracted ``cifar-100-python.tar.gz`` into the ``arrays`` layout.

The archive's ``train``, ``test`` and ``meta`` files are Python-2 pickles of dicts; their
``data`` arrays were pickled by old numpy. They are read only through the project's
restricted unpickler, which admits exactly the three globals those arrays reference.

Splits (as the HAFrame authors'): train = the first (n - ``val_per_class``) training images of every
class in file order, val = the last ``val_per_class`` of every class, test = the official
test set. Dataset class ``i`` is the hierarchy leaf ``L5-<i>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import numpy._core.multiarray as _multiarray

from ...io import safe_unpickle
from ..prepared import DataError, check_counts, write_prepared
from ..transforms import NORMALISATION
from .base import (
    DatasetKind,
    PrepareJob,
    Source,
    expected_counts,
    published_sizes,
    source_overrides,
)

EXPECTED = {"train": (45000, 100), "val": (5000, 100), "test": (10000, 100)}  # (images, classes)

# (module, name) as the real files write them (numpy 1.x under Python 2) -> numpy 2's objects
CIFAR_GLOBALS: dict = {
    ("numpy.core.multiarray", "_reconstruct"): _multiarray._reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}

FOLDER = "cifar-100-python"
IMAGE_SHAPE = (3, 32, 32)


def class_name(index: int) -> str:
    """The hierarchy leaf of dataset class ``index``."""
    return f"L5-{index}"


def read_pickle(path: Path) -> dict[str, Any]:
    """One CIFAR pickle as a dict with str keys (Python-2 str keys decode as latin-1)."""
    if not path.is_file():
        raise DataError(f"{path}: CIFAR-100 file not found (expected the extracted cifar-100-python.tar.gz)")
    obj = safe_unpickle(path, CIFAR_GLOBALS, encoding="latin1")
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a pickled dict, found {type(obj).__name__}")
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}


def _field(batch: dict, key: str, path: Path) -> Any:
    if key not in batch:
        raise DataError(f"{path}: no {key!r} entry (found {sorted(batch)})")
    return batch[key]


def read_batch(path: Path, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(images N x 32 x 32 x 3 uint8, fine labels int64) of the ``train`` or ``test`` file."""
    batch = read_pickle(path)
    data = _field(batch, "data", path)
    labels = np.asarray(_field(batch, "fine_labels", path), dtype=np.int64)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != int(np.prod(IMAGE_SHAPE)):
        found = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"{path}: 'data' must be a uint8 N x 3072 array, found {found}")
    if labels.shape != (len(data),):
        raise DataError(f"{path}: {len(data)} images but {labels.size} fine labels")
    outside = sorted({int(x) for x in labels if not 0 <= x < num_classes})
    if outside:
        raise DataError(f"{path}: fine labels outside 0..{num_classes - 1}: {outside[:10]}")
    # rows are the R, G and B planes one after another: N x 3 x 32 x 32 -> N x 32 x 32 x 3
    images = np.ascontiguousarray(data.reshape(len(data), *IMAGE_SHAPE).transpose(0, 2, 3, 1))
    return images, labels


def split_train_val(labels: np.ndarray, val_per_class: int) -> np.ndarray:
    """Boolean mask of the validation images: the last ``val_per_class`` of every class."""
    is_val = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        positions = np.flatnonzero(labels == label)  # file order
        if val_per_class > 0:
            is_val[positions[-val_per_class:]] = True
    return is_val


def prepare(
    extracted: Path, out_dir: Path, classes: Sequence[str], *, expected=EXPECTED,
    val_per_class: int = 50, log: Callable[[str], None] = lambda m: None,
) -> dict:
    """Read, split and check everything, then write the arrays layout; returns meta."""
    folder, out_dir = Path(extracted) / FOLDER, Path(out_dir)
    if val_per_class < 0:
        raise ValueError(f"val_per_class must be >= 0, got {val_per_class}")
    meta_file = folder / "meta"
    names = _field(read_pickle(meta_file), "fine_label_names", meta_file)
    num_classes = len(names)
    train_images, train_labels = read_batch(folder / "train", num_classes)
    test_images, test_labels = read_batch(folder / "test", num_classes)

    dataset_classes = {class_name(i) for i in range(num_classes)}
    missing = sorted(set(classes) - dataset_classes)
    unknown = sorted(dataset_classes - set(classes), key=lambda name: int(name[3:]))
    if missing or unknown or len(set(classes)) != len(classes):
        raise DataError(
            f"cifar100: the hierarchy's classes differ from the dataset's {num_classes} classes "
            f"(L5-0..L5-{num_classes - 1}): hierarchy classes not in the dataset: {missing[:10]}; "
            f"dataset classes not in the hierarchy: {unknown[:10]}"
            + ("; the hierarchy lists a class twice" if len(set(classes)) != len(classes) else "")
        )
    # dataset label i -> position of L5-i in the hierarchy's class order
    to_index = np.array([list(classes).index(class_name(i)) for i in range(num_classes)], dtype=np.int64)

    is_val = split_train_val(train_labels, val_per_class)
    splits = {
        "train": (train_images[~is_val], to_index[train_labels[~is_val]]),
        "val": (train_images[is_val], to_index[train_labels[is_val]]),
        "test": (test_images, to_index[test_labels]),
    }
    found = {split: (int(len(labels)), int(len(np.unique(labels)))) for split, (_, labels) in splits.items()}
    check_counts("cifar100", found, expected)
    for split, (n, k) in found.items():
        log(f"cifar100 {split}: {n} images in {k} classes")
    return write_prepared(out_dir, list(classes), splits, transform="cifar", normalisation=NORMALISATION["cifar"])


def prepare_job(job: PrepareJob) -> dict:
    return prepare(job.inputs["archive"], job.out_dir, job.classes, expected=job.expected_counts(EXPECTED), log=job.log)


KIND = DatasetKind(
    name="cifar100",
    prepare=prepare_job,
    sources={
        "archive": Source(
            "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz", "cifar-100-python.tar.gz",
            md5="eb9058c3a382ffc7106e4002c42a8d85",
        ),
    },
    split_sizes=published_sizes(EXPECTED),
    options={"sources": source_overrides(), "counts": expected_counts(EXPECTED)},
    mem_mb=4_000, runtime_min=30,
)
