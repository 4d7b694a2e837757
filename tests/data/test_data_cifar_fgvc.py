"""CIFAR-100 and FGVC-Aircraft preparation, offline, through the real path.

Tiny archives in the sources' real formats (the kinds' ``fixture``) are built in tmp_path, then
fetched with haframe.downloads.download (file:// source, sha256 checked), extracted with safe_extract,
prepared, and read back with make_loader, as the workflow does.

CIFAR's files are written as Python 2's cPickle wrote them (protocol 2, str as BINSTRING,
arrays pickled by numpy 1.x: ``numpy.core.multiarray._reconstruct``); FGVC's images are real
JPEGs with a 20-row banner of another colour at the bottom.
"""

from __future__ import annotations

import hashlib
import pickletools
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from haframe.archives import UnsafeArchiveError, safe_extract
from haframe.data.files import read_index
from haframe.data.kinds import cifar100 as cifar
from haframe.data.kinds import fgvc_aircraft as fgvc
from haframe.data.kinds.cifar100 import Call, Global, pattern_image, py2_pickle
from haframe.data.kinds.fixtures import tar_gz
from haframe.data.loaders import make_loader
from haframe.data.prepared import DataError, read_classes, read_meta, read_split
from haframe.downloads import download
from haframe.pickles import UnsafePickleError

CPU = torch.device("cpu")
CIFAR_MEAN, CIFAR_STD = (0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761)  # README, "The method" 5
FGVC_MEAN, FGVC_STD = (0.4880712, 0.5191783, 0.54383063), (0.21482512, 0.20683703, 0.23937796)


def fetch_and_extract(archive: Path, work: Path) -> Path:
    """download(file:// URL, sha256) then safe_extract, as the workflow does."""
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    local = download(archive.as_uri(), work / "downloads" / archive.name, sha256=digest)
    assert local.read_bytes() == archive.read_bytes()
    return safe_extract(local, work / "extracted")


# --------------------------------------------------------------------------- Python-2 pickles


def globals_of(data: bytes) -> set[str]:
    return {arg for op, arg, _ in pickletools.genops(data) if op.name in ("GLOBAL", "STACK_GLOBAL")}


def test_py2_pickle_fixture_is_what_the_real_files_are():
    """The fixture writer itself: old numpy's global names, Python-2 str, no Python-3 opcodes."""
    data = py2_pickle({b"data": np.arange(6, dtype=np.uint8).reshape(2, 3), b"fine_labels": [1, 300, -1]})
    assert data[:2] == b"\x80\x02"
    assert globals_of(data) == {"numpy.core.multiarray _reconstruct", "numpy ndarray", "numpy dtype"}
    opcodes = {op.name for op, _, _ in pickletools.genops(data)}
    assert "SHORT_BINSTRING" in opcodes and not opcodes & {
        "SHORT_BINUNICODE",
        "BINUNICODE",
        "SHORT_BINBYTES",
        "BINBYTES",
        "STACK_GLOBAL",
    }


# --------------------------------------------------------------------------- CIFAR-100

K = 100
TRAIN_PER_CLASS, VAL_PER_CLASS, TEST_PER_CLASS = 7, 2, 3
CIFAR_EXPECTED = {"train": (K * 5, K), "val": (K * 2, K), "test": (K * 3, K)}


@pytest.fixture(scope="module")
def cifar_source(tmp_path_factory) -> cifar.CifarFixture:
    """cifar-100-python.tar.gz with 7 train and 3 test images per class, classes interleaved."""
    fx = cifar.fixture(
        tmp_path_factory.mktemp("cifar_source"),
        classes=K,
        train_per_class=TRAIN_PER_CLASS,
        test_per_class=TEST_PER_CLASS,
        val_per_class=VAL_PER_CLASS,
    )
    assert fx.counts == CIFAR_EXPECTED
    return fx


@pytest.fixture(scope="module")
def cifar_prepared(cifar_source, tmp_path_factory):
    work = tmp_path_factory.mktemp("cifar_work")
    extracted = fetch_and_extract(cifar_source.sources["archive"], work)
    classes = [f"L5-{i}" for i in range(K)]
    meta = cifar.prepare(extracted, work / "prepared", classes, expected=CIFAR_EXPECTED, val_per_class=VAL_PER_CLASS)
    return dict(out=work / "prepared", meta=meta, extracted=extracted)


def test_cifar_fixture_references_old_numpy_globals(cifar_source):
    data = cifar_source.files["cifar-100-python/train"]
    assert "numpy.core.multiarray _reconstruct" in globals_of(data)
    assert globals_of(data) <= {f"{m} {n}" for m, n in cifar.CIFAR_GLOBALS}
    assert set(cifar.CIFAR_GLOBALS) == {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }


def test_cifar_splits_counts_classes_and_pixels(cifar_source, cifar_prepared):
    out = cifar_prepared["out"]
    assert read_classes(out / "classes.txt") == [f"L5-{i}" for i in range(K)]
    meta = read_meta(out / "meta.json")
    assert meta == cifar_prepared["meta"]
    assert meta["layout"] == "arrays" and meta["num_classes"] == K and meta["image_size"] == 32
    assert meta["counts"] == {"train": 500, "val": 200, "test": 300}
    assert meta["mean"] == pytest.approx(CIFAR_MEAN) and meta["std"] == pytest.approx(CIFAR_STD)

    train_images, train_labels = cifar_source.train
    splits = {split: read_split(out / "meta.json", split) for split in ("train", "val", "test")}
    for split, (images, labels) in splits.items():
        assert images.dtype == np.uint8 and images.shape[1:] == (32, 32, 3)
        assert labels.dtype == np.int64 and len(labels) == len(images)
        per_class = np.bincount(labels, minlength=K)
        want = {"train": TRAIN_PER_CLASS - VAL_PER_CLASS, "val": VAL_PER_CLASS, "test": TEST_PER_CLASS}[split]
        assert (per_class == want).all(), f"{split}: per-class counts {set(per_class.tolist())}, expected {want}"

    # val = the LAST val_per_class training images of each class in file order; train = the rest
    for c in range(K):
        positions = np.flatnonzero(train_labels == c)
        for split, chosen in (("val", positions[-VAL_PER_CLASS:]), ("train", positions[:-VAL_PER_CLASS])):
            images, labels = splits[split]
            got = sorted(image.tobytes() for image in images[labels == c])
            assert got == sorted(train_images[i].tobytes() for i in chosen), f"class {c}: wrong {split} images"

    # the official test set, every image with its label, pixels exact after reshape/transpose
    test_images, test_labels = cifar_source.test
    images, labels = splits["test"]
    assert sorted(zip(map(bytes, images.reshape(len(images), -1)), labels.tolist())) == sorted(
        zip(map(bytes, test_images.reshape(len(test_images), -1)), test_labels.tolist())
    )
    matches = np.flatnonzero((images == pattern_image()).all(axis=(1, 2, 3)))
    assert len(matches) == 1 and labels[matches[0]] == test_labels[5]
    assert images[matches[0]][3, 2].tolist() == [24, 16, 77]  # row 3, column 2


def test_cifar_loaders_yield_normalised_batches(cifar_prepared):
    out = cifar_prepared["out"]
    images, labels = read_split(out / "meta.json", "test")
    mean = torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR_STD).view(1, 3, 1, 1)
    evaluation = make_loader(out / "meta.json", "test", train=False, batch_size=64, device=CPU, workers=0)
    batches = list(evaluation.epoch(seed=0, epoch=0))
    assert evaluation.num_samples == 300 and sum(len(y) for _, y in batches) == 300
    x, y = batches[0]
    assert x.dtype == torch.float32 and x.shape == (64, 3, 32, 32)
    want = (torch.from_numpy(images[:64]).permute(0, 3, 1, 2).float() / 255 - mean) / std
    assert torch.allclose(x, want, atol=1e-5)
    assert torch.equal(y, torch.from_numpy(labels[:64]))

    training = make_loader(out / "meta.json", "train", train=True, batch_size=64, device=CPU, drop_last=True, workers=0)
    batches = list(training.epoch(seed=0, epoch=0))
    assert len(batches) == 500 // 64 and all(
        x.shape == (64, 3, 32, 32) and x.dtype == torch.float32 for x, _ in batches
    )
    low, high = ((0 - mean) / std).min(), ((1 - mean) / std).max()
    assert all(x.min() >= low - 1e-5 and x.max() <= high + 1e-5 for x, _ in batches)
    assert 0 <= min(int(y.min()) for _, y in batches) and max(int(y.max()) for _, y in batches) < K


def test_cifar_labels_follow_the_hierarchy_class_order(cifar_source, cifar_prepared, tmp_path):
    classes = [f"L5-{i}" for i in reversed(range(K))]
    cifar.prepare(
        cifar_prepared["extracted"], tmp_path / "out", classes, expected=CIFAR_EXPECTED, val_per_class=VAL_PER_CLASS
    )
    assert read_classes(tmp_path / "out" / "classes.txt") == classes
    test_images, test_labels = cifar_source.test
    images, labels = read_split(tmp_path / "out" / "meta.json", "test")
    match = np.flatnonzero((images == pattern_image()).all(axis=(1, 2, 3)))[0]
    assert labels[match] == K - 1 - test_labels[5]


def test_cifar_class_set_must_equal_the_hierarchy(cifar_prepared, tmp_path):
    classes = [f"L5-{i}" for i in range(K - 1)] + ["L5-100"]
    with pytest.raises(DataError, match=r"not in the dataset: \['L5-100'\].*not in the hierarchy: \['L5-99'\]"):
        cifar.prepare(
            cifar_prepared["extracted"], tmp_path / "out", classes, expected=CIFAR_EXPECTED, val_per_class=VAL_PER_CLASS
        )
    assert not (tmp_path / "out").exists()


def test_cifar_wrong_count_names_split_expected_and_found(cifar_prepared, tmp_path):
    expected = {**CIFAR_EXPECTED, "val": (201, K)}
    with pytest.raises(DataError, match=r"'val' has 200 images in 100 classes; expected 201 images in 100 classes"):
        cifar.prepare(
            cifar_prepared["extracted"],
            tmp_path / "out",
            [f"L5-{i}" for i in range(K)],
            expected=expected,
            val_per_class=VAL_PER_CLASS,
        )
    assert not (tmp_path / "out").exists()
    # the published numbers do not fit the tiny fixture: the default check fails too
    with pytest.raises(DataError, match=r"'train' has 500 images in 100 classes; expected 45000 images"):
        cifar.prepare(
            cifar_prepared["extracted"], tmp_path / "out", [f"L5-{i}" for i in range(K)], val_per_class=VAL_PER_CLASS
        )
    assert not (tmp_path / "out").exists()


def test_cifar_pickle_with_a_foreign_global_is_refused(cifar_source, tmp_path):
    marker = tmp_path / "pwned"
    hostile = dict(cifar_source.files)
    hostile["cifar-100-python/test"] = py2_pickle(
        {
            b"data": Call(Global("os", "system"), (f"touch {marker}".encode(),)),
            b"fine_labels": [0],
        }
    )
    assert "os system" in globals_of(hostile["cifar-100-python/test"])
    archive = tar_gz(tmp_path / "cifar-100-python.tar.gz", hostile)
    extracted = fetch_and_extract(archive, tmp_path / "work")
    out = tmp_path / "out"
    with pytest.raises(UnsafePickleError, match=r"os\.system"):
        cifar.prepare(
            extracted, out, [f"L5-{i}" for i in range(K)], expected=CIFAR_EXPECTED, val_per_class=VAL_PER_CLASS
        )
    assert not marker.exists()
    assert not out.exists()  # nothing written


# --------------------------------------------------------------------------- FGVC-Aircraft

COLOURS, BANNER, (WIDTH, HEIGHT) = fgvc.FIXTURE_COLOURS, fgvc.FIXTURE_BANNER, fgvc.FIXTURE_SIZE
VARIANTS = list(COLOURS)
PER_SPLIT = fgvc.FIXTURE_PER_SPLIT  # images per variant: 8 / 4 / 8 images
FGVC_CLASSES = sorted("v-" + v.replace("/", "-slash-") for v in VARIANTS)
FGVC_EXPECTED = {split: (n * len(VARIANTS), len(VARIANTS)) for split, n in PER_SPLIT.items()}


@pytest.fixture(scope="module")
def fgvc_prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("fgvc")
    fx = fgvc.fixture(root)
    assert list(fx.hierarchy.classes) == FGVC_CLASSES and fx.counts == FGVC_EXPECTED
    extracted = fetch_and_extract(fx.sources["archive"], root / "work")
    meta = fgvc.prepare(extracted, root / "prepared", FGVC_CLASSES, expected=FGVC_EXPECTED, threads=2)
    return dict(out=root / "prepared", meta=meta, annotations=fx.annotations, extracted=extracted)


def test_fgvc_images_are_cropped_at_full_resolution(fgvc_prepared):
    out, annotations = fgvc_prepared["out"], fgvc_prepared["annotations"]
    assert read_classes(out / "classes.txt") == FGVC_CLASSES
    assert FGVC_CLASSES == ["v-707-320", "v-Boeing 717", "v-Cessna 172", "v-F-slash-A-18"]
    for split, rows in annotations.items():
        index = read_index(out, split)
        assert index == [
            (
                f"images/{split}/v-{variant.replace('/', '-slash-')}/{image}.jpg",
                FGVC_CLASSES.index("v-" + variant.replace("/", "-slash-")),
            )
            for image, variant in rows
        ]
        for (path, _label), (_, variant) in zip(index, rows):
            with Image.open(out / path) as image:
                assert image.format == "JPEG" and image.size == (WIDTH, HEIGHT - 20)
                pixels = np.asarray(image.convert("RGB")).astype(int)
            assert np.abs(pixels - np.array(COLOURS[variant])).max() <= 8, f"{path}: banner or wrong colour left"
            assert np.abs(pixels[-1] - np.array(BANNER)).sum(axis=-1).min() > 100
    # the originals are untouched
    data = fgvc_prepared["extracted"] / "fgvc-aircraft-2013b" / "data" / "images"
    with Image.open(data / f"{annotations['test'][0][0]}.jpg") as original:
        assert original.size == (WIDTH, HEIGHT)


def test_fgvc_meta_and_counts(fgvc_prepared):
    meta = read_meta(fgvc_prepared["out"] / "meta.json")
    assert meta == fgvc_prepared["meta"]
    assert meta["layout"] == "images" and meta["transform"] == "fgvc" and meta["num_classes"] == len(VARIANTS)
    assert meta["image_size"] == 224
    assert meta["counts"] == {"train": 8, "val": 4, "test": 8}
    assert meta["mean"] == pytest.approx(FGVC_MEAN) and meta["std"] == pytest.approx(FGVC_STD)
    assert len(list((fgvc_prepared["out"] / "images").rglob("*.jpg"))) == 20


def test_fgvc_loaders(fgvc_prepared):
    out = fgvc_prepared["out"]
    mean = torch.tensor(FGVC_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(FGVC_STD).view(1, 3, 1, 1)

    evaluation = make_loader(out / "meta.json", "test", train=False, batch_size=3, device=CPU, workers=0)
    batches = list(evaluation.epoch(seed=0, epoch=0))
    assert [len(y) for _, y in batches] == [3, 3, 2]  # every test image scored, no drop_last
    assert evaluation.num_samples == 8 == len(fgvc_prepared["annotations"]["test"])
    x = torch.cat([x for x, _ in batches])
    y = torch.cat([y for _, y in batches])
    assert x.shape == (8, 3, 224, 224) and x.dtype == torch.float32
    assert y.tolist() == [label for _, label in read_index(out, "test")]
    colours = torch.tensor([COLOURS[v] for _, v in fgvc_prepared["annotations"]["test"]], dtype=torch.float32)
    want = (colours.view(8, 3, 1, 1) / 255 - mean) / std
    assert (x - want).abs().amax() < 0.25  # solid colour everywhere: no banner rows survived the crop

    runs = []
    for workers in (0, 2):
        training = make_loader(out / "meta.json", "train", train=True, batch_size=4, device=CPU, workers=workers)
        runs.append(list(training.epoch(seed=1, epoch=3)))
    assert [x.shape for x, _ in runs[0]] == [(4, 3, 224, 224)] * 2
    assert sorted(torch.cat([y for _, y in runs[0]]).tolist()) == sorted(label for _, label in read_index(out, "train"))
    for (x0, y0), (x2, y2) in zip(*runs):  # the number of workers does not change the batches
        assert torch.equal(y0, y2) and torch.equal(x0, x2)


def test_fgvc_class_set_and_counts_are_checked_before_converting(fgvc_prepared, tmp_path):
    extracted = fgvc_prepared["extracted"]
    with pytest.raises(
        DataError, match=r"not in the dataset: \['v-F-18'\].*not in the hierarchy: \['v-F-slash-A-18'\]"
    ):
        fgvc.prepare(
            extracted,
            tmp_path / "out",
            [c if c != "v-F-slash-A-18" else "v-F-18" for c in FGVC_CLASSES],
            expected=FGVC_EXPECTED,
        )
    with pytest.raises(DataError, match=r"'test' has 8 images in 4 classes; expected 9 images in 4 classes"):
        fgvc.prepare(extracted, tmp_path / "out", FGVC_CLASSES, expected={**FGVC_EXPECTED, "test": (9, 4)})
    with pytest.raises(DataError, match=r"'train' has 8 images in 4 classes; expected 3334 images in 100 classes"):
        fgvc.prepare(extracted, tmp_path / "out", FGVC_CLASSES)
    assert not (tmp_path / "out").exists()


def test_hostile_archive_is_refused_and_nothing_extracted(tmp_path):
    files, _ = fgvc.fixture_files({"train": 1, "val": 1, "test": 1})
    files["../evil.txt"] = b"escaped"
    (tmp_path / "source").mkdir()
    archive = tar_gz(tmp_path / "source" / "fgvc-aircraft-2013b.tar.gz", files)
    work = tmp_path / "work"
    with pytest.raises(UnsafeArchiveError, match=r"\.\./evil\.txt"):
        fetch_and_extract(archive, work)
    assert not (work / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()
    assert sorted(p.name for p in work.iterdir()) == ["downloads"]  # no extracted or half-extracted folder
