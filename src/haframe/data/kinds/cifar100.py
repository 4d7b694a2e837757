"""CIFAR-100 from the extracted ``cifar-100-python.tar.gz`` into the ``arrays`` layout.

The archive's ``train``, ``test`` and ``meta`` files are Python-2 pickles of dicts; their
``data`` arrays were pickled by old numpy. They are read only through the project's
restricted unpickler, which admits exactly the three globals those arrays reference.

Splits (as the HAFrame authors'): train = the first (n - ``val_per_class``) training images of every
class in file order, val = the last ``val_per_class`` of every class, test = the official
test set. Dataset class ``i`` is the hierarchy leaf ``L5-<i>``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy._core.multiarray as _multiarray

from ...hierarchy import Hierarchy
from ...pickles import safe_unpickle
from ..prepared import DataError, check_counts, write_prepared
from ..transforms import NORMALISATION
from .base import (
    DatasetKind,
    KindFixture,
    PrepareJob,
    Source,
    expected_counts,
    published_sizes,
    source_overrides,
)
from .fixtures import tar_gz

EXPECTED = {"train": (45000, 100), "val": (5000, 100), "test": (10000, 100)}  # (images, classes)

# (module, name) as the real files write them (numpy 1.x under Python 2) -> numpy 2's objects
CIFAR_GLOBALS: dict = {
    ("numpy.core.multiarray", "_reconstruct"): _multiarray._reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}

FOLDER = "cifar-100-python"
IMAGE_SHAPE = (3, 32, 32)
VAL_PER_CLASS = 50


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
    if (
        not isinstance(data, np.ndarray)
        or data.dtype != np.uint8
        or data.ndim != 2
        or data.shape[1] != int(np.prod(IMAGE_SHAPE))
    ):
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
    extracted: Path,
    out_dir: Path,
    classes: Sequence[str],
    *,
    expected=EXPECTED,
    val_per_class: int = VAL_PER_CLASS,
    log: Callable[[str], None] = lambda m: None,
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


# --------------------------------------------------------------------------- fixture


@dataclass(frozen=True)
class Global:
    """A global as a pickle names it."""

    module: str
    name: str


@dataclass(frozen=True)
class Call:
    """A pickled call ``func(*args)`` (REDUCE)."""

    func: Global
    args: tuple


U1 = object()  # numpy 1.x's dtype('uint8')


def py2_pickle(obj: Any) -> bytes:
    """Protocol-2 opcodes as Python 2's cPickle wrote the CIFAR files: Python-2 str (here
    bytes) as SHORT_BINSTRING/BINSTRING, numpy arrays as numpy 1.x reduced them."""
    out = bytearray(b"\x80\x02")  # PROTO 2

    def put(o):
        nonlocal out
        if o is None:
            out += b"N"
        elif isinstance(o, bool):
            out += b"\x88" if o else b"\x89"
        elif isinstance(o, int):
            out += b"K" + bytes([o]) if 0 <= o < 256 else b"J" + struct.pack("<i", o)
        elif isinstance(o, bytes):
            out += (b"U" + bytes([len(o)]) if len(o) < 256 else b"T" + struct.pack("<I", len(o))) + o
        elif isinstance(o, tuple):
            out += b"("
            for x in o:
                put(x)
            out += b"t"
        elif isinstance(o, list):
            out += b"]("
            for x in o:
                put(x)
            out += b"e"
        elif isinstance(o, dict):
            out += b"}("
            for k, v in o.items():
                put(k)
                put(v)
            out += b"u"
        elif isinstance(o, Global):
            out += b"c" + f"{o.module}\n{o.name}\n".encode()
        elif isinstance(o, Call):
            put(o.func)
            put(o.args)
            out += b"R"
        elif o is U1:
            put(Call(Global("numpy", "dtype"), (b"u1", False, True)))
            put((3, b"|", None, None, None, -1, -1, 0))
            out += b"b"
        elif isinstance(o, np.ndarray):
            assert o.dtype == np.uint8
            put(Call(Global("numpy.core.multiarray", "_reconstruct"), (Global("numpy", "ndarray"), (0,), b"b")))
            put((1, o.shape, U1, False, o.tobytes()))
            out += b"b"
        else:
            raise TypeError(type(o))

    put(obj)
    return bytes(out + b".")


def pattern_image() -> np.ndarray:
    """32 x 32 x 3 with R = 8 * row, G = 8 * column, B = 77: any transposition shows."""
    rows, cols = np.meshgrid(np.arange(32), np.arange(32), indexing="ij")
    return np.stack([rows * 8, cols * 8, np.full_like(rows, 77)], axis=-1).astype(np.uint8)


def to_cifar_rows(images: np.ndarray) -> np.ndarray:
    """N x 32 x 32 x 3 -> N x 3072 (the R plane, then G, then B, each row-major)."""
    return images.transpose(0, 3, 1, 2).reshape(len(images), 3072).copy()


def cifar_batch(images: np.ndarray, labels: np.ndarray, name: bytes) -> dict:
    return {
        b"filenames": [b"img_%05d.png" % i for i in range(len(labels))],
        b"batch_label": b"training batch 1 of 1" if name == b"train" else b"testing batch 1 of 1",
        b"fine_labels": [int(x) for x in labels],
        b"coarse_labels": [int(x) // 5 for x in labels],
        b"data": to_cifar_rows(images),
    }


@dataclass(frozen=True)
class CifarFixture(KindFixture):
    files: dict[str, bytes]  # the archive's members
    train: tuple[np.ndarray, np.ndarray]  # (images N x 32 x 32 x 3, fine labels) as written
    test: tuple[np.ndarray, np.ndarray]


def fixture(
    root: Path,
    *,
    classes: int = 2,
    train_per_class: int = VAL_PER_CLASS + 2,
    test_per_class: int = 3,
    val_per_class: int = VAL_PER_CLASS,
) -> CifarFixture:
    """cifar-100-python.tar.gz with ``classes`` classes, their images interleaved, the test
    image 5 a ``pattern_image``; ``counts`` as ``prepare`` splits it with ``val_per_class``."""
    rng = np.random.default_rng(0)
    train_labels = rng.permutation(np.repeat(np.arange(classes), train_per_class))
    test_labels = rng.permutation(np.repeat(np.arange(classes), test_per_class))
    train_images = rng.integers(0, 256, (len(train_labels), 32, 32, 3), dtype=np.uint8)
    test_images = rng.integers(0, 256, (len(test_labels), 32, 32, 3), dtype=np.uint8)
    test_images[5] = pattern_image()
    files = {
        f"{FOLDER}/meta": py2_pickle(
            {
                b"fine_label_names": [b"class_%d" % i for i in range(classes)],
                b"coarse_label_names": [b"super_%d" % i for i in range(max(classes // 5, 1))],
            }
        ),
        f"{FOLDER}/train": py2_pickle(cifar_batch(train_images, train_labels, b"train")),
        f"{FOLDER}/test": py2_pickle(cifar_batch(test_images, test_labels, b"test")),
    }
    Path(root).mkdir(parents=True, exist_ok=True)
    counts = {
        "train": (classes * (train_per_class - val_per_class), classes),
        "val": (classes * val_per_class, classes),
        "test": (classes * test_per_class, classes),
    }
    return CifarFixture(
        sources={"archive": tar_gz(Path(root) / "cifar-100-python.tar.gz", files)},
        options={"counts": counts},
        hierarchy=Hierarchy.from_paths([["root", f"L4-{i // 5}", class_name(i)] for i in range(classes)]),
        counts=counts,
        files=files,
        train=(train_images, train_labels),
        test=(test_images, test_labels),
    )


KIND = DatasetKind(
    name="cifar100",
    prepare=prepare_job,
    fixture=fixture,
    sources={
        "archive": Source(
            "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
            "cifar-100-python.tar.gz",
            md5="eb9058c3a382ffc7106e4002c42a8d85",
        ),
    },
    split_sizes=published_sizes(EXPECTED),
    options={"sources": source_overrides(), "counts": expected_counts(EXPECTED)},
    mem_mb=4_000,
    runtime_min=30,
)
