"""iNaturalist-2019 and tieredImageNet-H preparation, offline, on tiny archives in the real formats.

Each fixture (the kind's ``fixture``) goes the real way: haframe.downloads.download (file:// source,
sha256 checked) -> haframe.archives.safe_extract (the iNat tarball, the split-list archives) ->
prepare -> make_loader. The ILSVRC-2012 tars are never extracted: prepare streams them. Every
source image is a solid colour with a black strip over its left fifth, so a prepared image
shows whether it came from the right source and was stretched (not cropped) to 224 x 224.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from reference_files import reference_file

from haframe.archives import UnsafeArchiveError, safe_extract
from haframe.data.files import read_index
from haframe.data.kinds import inat19 as inat
from haframe.data.kinds import tiered_imagenet as tiered
from haframe.data.kinds.fixtures import ListedFixture, colour, jpeg, tar_bytes
from haframe.data.loaders import make_loader
from haframe.data.prepared import DataError, read_classes, read_meta
from haframe.data.split_lists import plan_rows, verified_split_lists
from haframe.data.transforms import NORMALISATION
from haframe.downloads import download
from haframe.fileio import sha256_of

SPLITS = ("train", "val", "test")
CPU = torch.device("cpu")


def fetch(archive: Path, work: Path, name: str) -> Path:
    """download (file:// URL, sha256 checked) then safe_extract: the path every source takes."""
    local = download(archive.as_uri(), work / "downloads" / archive.name, sha256=sha256_of(archive))
    return safe_extract(local, work / "extracted" / name)


def check_prepared(out: Path, fx: ListedFixture, meta: dict, recipe: str) -> None:
    """Counts, class order, index files, labels and every prepared image (size and content)."""
    assert meta == read_meta(out / "meta.json")
    assert meta["layout"] == "images" and meta["transform"] == recipe and meta["image_size"] == 224
    assert meta["num_classes"] == len(fx.classes)
    assert meta["counts"] == {s: len(fx.listed[s]) for s in SPLITS}
    assert (meta["mean"], meta["std"]) == (list(NORMALISATION[recipe][0]), list(NORMALISATION[recipe][1]))
    assert read_classes(out / "classes.txt") == fx.classes
    indexed = set()
    for split in SPLITS:
        rows = read_index(out, split)
        assert rows == [(f"images/{split}/{c}/{n}", fx.classes.index(c)) for c, n, _ in fx.listed[split]]
        for (path, _), (_, _, number) in zip(rows, fx.listed[split]):
            indexed.add(out / path)
            with Image.open(out / path) as image:
                assert image.size == (224, 224) and image.mode == "RGB"
                pixels = np.asarray(image, dtype=np.float64)
            assert pixels[:, :30].mean() < 25, f"{path}: left strip lost (cropped, not stretched?)"
            assert np.abs(pixels[:, 60:].mean(axis=(0, 1)) - colour(number)).max() < 6, f"{path}: wrong source"
    on_disk = {p for p in (out / "images").rglob("*") if p.is_file()}
    assert on_disk == indexed  # nothing unlisted, nothing else


def check_loaders(out: Path, fx: ListedFixture) -> None:
    for split in SPLITS:
        loader = make_loader(out / "meta.json", split, train=True, batch_size=4, device=CPU, workers=0)
        seen = []
        for images, labels in loader.epoch(seed=0, epoch=0):
            assert images.dtype == torch.float32 and images.shape == (len(labels), 3, 224, 224)
            assert torch.isfinite(images).all()
            seen += labels.tolist()
        assert sorted(seen) == sorted(fx.classes.index(c) for c, _, _ in fx.listed[split])
    # every test image scored, in index order, identically with worker processes
    model = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, len(fx.classes)))
    scored = {}
    for workers in (0, 2):
        loader = make_loader(out / "meta.json", "test", train=False, batch_size=5, device=CPU, workers=workers)
        batches = list(loader.epoch())
        assert all(b.shape[1:] == (3, 224, 224) and b.dtype == torch.float32 for b, _ in batches)
        with torch.no_grad():
            scores = torch.cat([model(images) for images, _ in batches])
        labels = torch.cat([labels for _, labels in batches]).tolist()
        assert scores.shape == (len(fx.listed["test"]), len(fx.classes))
        assert labels == [fx.classes.index(c) for c, _, _ in fx.listed["test"]]
        scored[workers] = scores
    assert torch.equal(scored[0], scored[2])


# --------------------------------------------------------------------------- iNaturalist 2019


def prepare_inat(fx: ListedFixture, out: Path, **overrides) -> dict:
    images = fetch(fx.sources["images"], fx.root, "train_val2019")
    lists = fetch(fx.sources["splits"], fx.root, "inat19_lists")
    options = dict(expected=dict(fx.counts), splits_digest=fx.digest(), threads=2)
    return inat.prepare(images, lists, out, overrides.pop("classes", fx.classes), **{**options, **overrides})


@pytest.fixture(scope="module")
def inat_prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("inat")
    fx = inat.fixture(root)
    messages: list[str] = []
    meta = prepare_inat(fx, root / "prepared", log=messages.append)
    assert messages  # progress is reported
    return fx, root / "prepared", meta


def test_inat_prepares_listed_images_stretched_to_224(inat_prepared):
    fx, out, meta = inat_prepared
    assert meta["counts"] == {"train": 9, "val": 6, "test": 6}
    check_prepared(out, fx, meta, "inat")
    assert not any(name in p.name for p in out.rglob("*") for name in fx.unlisted)


def test_inat_loaders_batch_every_split_and_score_every_test_image(inat_prepared):
    fx, out, _ = inat_prepared
    check_loaders(out, fx)


def test_inat_rerun_keeps_converted_images_and_rewrites_the_same_result(inat_prepared, tmp_path):
    fx, out, meta = inat_prepared
    first = next((out / "images" / "train").rglob("*.jpg"))
    stamp = first.stat().st_mtime_ns
    assert prepare_inat(fx, out) == meta
    assert first.stat().st_mtime_ns == stamp


def test_inat_wrong_digest_is_refused_before_anything_is_written(tmp_path):
    fx = inat.fixture(tmp_path)
    with pytest.raises(DataError, match="digest"):
        prepare_inat(fx, tmp_path / "out", splits_digest="0" * 64)
    assert not (tmp_path / "out").exists()


def test_inat_missing_listed_image_is_named(tmp_path):
    fx = inat.fixture(tmp_path)
    victim = fx.listed["val"][3][1]
    fx = inat.fixture(tmp_path / "again", drop=victim)
    with pytest.raises(DataError, match=victim):
        prepare_inat(fx, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # checked before converting anything


def test_inat_class_set_must_equal_the_hierarchy(tmp_path):
    fx = inat.fixture(tmp_path)
    with pytest.raises(DataError, match=r"nat0002.*nat0005|nat0005.*nat0002"):
        prepare_inat(fx, tmp_path / "out", classes=["nat0000", "nat0001", "nat0005"])


def test_inat_count_mismatch_names_split_and_numbers(tmp_path):
    fx = inat.fixture(tmp_path)
    expected = {**dict(fx.counts), "val": (7, 3)}
    with pytest.raises(DataError, match=r"'val' has 6 images in 3 classes; expected 7 images in 3 classes"):
        prepare_inat(fx, tmp_path / "out", expected=expected)


def test_published_split_lists_match_the_module_constants(tmp_path):
    """The real lists (tests/reference_files.py) verify with SPLITS_DIGEST and give EXPECTED."""
    root = safe_extract(reference_file("splits/inat19_split_lists.tar.xz"), tmp_path / "inat")
    lists = verified_split_lists(root, inat.SPLITS_DIGEST)
    rows = plan_rows("inat19", lists, [f"nat{i:04d}" for i in range(1010)], inat.EXPECTED)
    assert {s: len(r) for s, r in rows.items()} == {s: n for s, (n, _) in inat.EXPECTED.items()}
    root = safe_extract(reference_file("splits/splits_tiered.zip"), tmp_path / "tiered")
    lists = verified_split_lists(root, tiered.SPLITS_DIGEST)
    rows = plan_rows("tiered", lists, sorted(lists["train"]), tiered.EXPECTED)
    assert {s: len(r) for s, r in rows.items()} == {s: n for s, (n, _) in tiered.EXPECTED.items()}


# --------------------------------------------------------------------------- tieredImageNet-H

GUIDANCE = [
    "ILSVRC2012_img_train.tar",
    "ILSVRC2012_img_val.tar",
    "https://image-net.org/download-images",
    "datasets.tiered_imagenet.imagenet.train",
    "datasets.tiered_imagenet.imagenet.val",
    "remove tiered_imagenet from `datasets`",
    "--configfile",
    "Ren et al",
]


def prepare_tiered(fx: ListedFixture, out: Path, train: Path, val: Path, **overrides) -> dict:
    lists = fetch(fx.sources["splits"], fx.root, "tiered_lists")
    options = dict(expected=dict(fx.counts), splits_digest=fx.digest(), threads=2)
    return tiered.prepare(train, val, lists, out, fx.classes, **{**options, **overrides})


@pytest.fixture(scope="module")
def tiered_prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiered")
    fx = tiered.fixture(root)
    # the user's ImageNet copy reaches the pipeline as local files (no download: login needed)
    train = download(fx.files["train_tar"].as_uri(), root / "user" / "ILSVRC2012_img_train.tar")
    val = download(fx.files["val_tar"].as_uri(), root / "user" / "ILSVRC2012_img_val.tar")
    meta = prepare_tiered(fx, root / "prepared", train, val)
    return fx, root / "prepared", meta


def test_tiered_streams_the_ilsvrc_tars_into_the_images_layout(tiered_prepared):
    fx, out, meta = tiered_prepared
    assert meta["counts"] == {"train": 9, "val": 6, "test": 6}
    check_prepared(out, fx, meta, "imagenet")
    # nothing was extracted from the tars: the only JPEGs are the fixture's folders and the prepared ones
    allowed = (fx.files["train_dir"], fx.files["val_dir"], out / "images")
    assert all(any(p.is_relative_to(a) for a in allowed) for p in fx.root.rglob("*.JPEG"))


def test_tiered_loaders_batch_every_split_and_score_every_test_image(tiered_prepared):
    fx, out, _ = tiered_prepared
    check_loaders(out, fx)


def test_tiered_extracted_folders_give_the_same_dataset(tiered_prepared, tmp_path):
    fx, out, meta = tiered_prepared
    other = tmp_path / "from_folders"
    assert prepare_tiered(fx, other, fx.files["train_dir"], fx.files["val_dir"]) == meta
    check_prepared(other, fx, meta, "imagenet")
    for name in ("classes.txt", "train.csv", "val.csv", "test.csv"):
        assert (other / name).read_bytes() == (out / name).read_bytes()
    for path in (out / "images").rglob("*.JPEG"):
        assert (other / path.relative_to(out)).read_bytes() == path.read_bytes()
    # a flat val folder works too
    flat = tmp_path / "val_flat"
    flat.mkdir()
    for path in fx.files["val_dir"].rglob("*.JPEG"):
        shutil.copy(path, flat / path.name)
    third = tmp_path / "flat"
    assert prepare_tiered(fx, third, fx.files["train_tar"], flat) == meta
    assert (third / "test.csv").read_bytes() == (out / "test.csv").read_bytes()


def test_tiered_wrong_digest_is_refused(tmp_path):
    fx = tiered.fixture(tmp_path)
    with pytest.raises(DataError, match="digest"):
        prepare_tiered(fx, tmp_path / "out", fx.files["train_tar"], fx.files["val_tar"], splits_digest="1" * 64)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("split, source", [("train", "tar"), ("test", "tar"), ("train", "dir"), ("val", "dir")])
def test_tiered_missing_listed_image_is_named(tmp_path, split, source):
    victim = tiered.fixture(tmp_path / "probe").listed[split][4][1]
    fx = tiered.fixture(tmp_path / "fx", drop=victim)
    with pytest.raises(DataError, match=rf"{victim} \({split}/"):
        prepare_tiered(fx, tmp_path / "out", fx.files[f"train_{source}"], fx.files[f"val_{source}"])
    assert not (tmp_path / "out" / "meta.json").exists()
    if source == "dir":  # folders are indexed before anything is converted
        assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("hostile", ["inner_dotdot", "inner_symlink", "outer_dotdot", "val_absolute"])
def test_tiered_hostile_tar_members_are_refused_and_never_written(tmp_path, hostile):
    fx = tiered.fixture(tmp_path / "fx", hostile=hostile)
    out = tmp_path / "deep" / "er" / "out"
    with pytest.raises(UnsafeArchiveError, match="evil|n01440764_1.JPEG"):
        prepare_tiered(fx, out, fx.files["train_tar"], fx.files["val_tar"])
    evil = [p for p in tmp_path.rglob("*") if "evil" in p.name or p.name == "n01440764_1.JPEG"]
    assert evil == []
    assert not (out / "meta.json").exists()


def test_check_imagenet_accepts_the_real_layouts(tmp_path):
    fx = tiered.fixture(tmp_path)
    tiered.check_imagenet(fx.files["train_tar"], fx.files["val_tar"])
    tiered.check_imagenet(fx.files["train_dir"], fx.files["val_dir"])  # val in per-class folders
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "ILSVRC2012_val_00000001.JPEG").write_bytes(jpeg(0))
    tiered.check_imagenet(str(fx.files["train_dir"]), str(flat))


@pytest.mark.parametrize(
    "case, problem",
    [
        ("train_unset", "datasets.tiered_imagenet.imagenet.train is not set"),
        ("val_unset", "datasets.tiered_imagenet.imagenet.val is not set"),
        ("both_unset", "imagenet.train is not set.*imagenet.val is not set"),
        ("nonexistent", "does not exist"),
        ("not_a_tar", "is not a tar archive"),
        ("empty_tar", "empty tar archive"),
        ("swapped", "first member is 'ILSVRC2012_val_.*first member is 'n01440764.tar'"),
        ("train_folder_of_class_tars", "holds no n######## class folders .it holds per-class tars"),
        ("val_folder_without_val_files", "holds no ILSVRC2012_val_########.JPEG files"),
    ],
)
def test_check_imagenet_says_what_is_wrong_and_how_to_get_imagenet(tmp_path, case, problem):
    fx = tiered.fixture(tmp_path)
    train, val = fx.files["train_tar"], fx.files["val_tar"]
    if case == "train_unset":
        train = None
    elif case == "val_unset":
        val = None
    elif case == "both_unset":
        train = val = None
    elif case == "nonexistent":
        train = tmp_path / "nowhere" / "ILSVRC2012_img_train.tar"
    elif case == "not_a_tar":
        train = tmp_path / "ILSVRC2012_img_train.tar.html"
        train.write_text("<html>Please log in</html>\n" * 40)
    elif case == "empty_tar":
        val = tmp_path / "empty.tar"
        val.write_bytes(tar_bytes([]))
    elif case == "swapped":
        train, val = val, train
    elif case == "train_folder_of_class_tars":
        train = tmp_path / "class_tars"
        train.mkdir()
        (train / "n01440764.tar").write_bytes(tar_bytes([("n01440764_1.JPEG", jpeg(0))]))
    elif case == "val_folder_without_val_files":
        val = fx.files["train_dir"]
    with pytest.raises(DataError) as raised:
        tiered.check_imagenet(train, val)
    message = str(raised.value)
    assert re.search(problem, message, re.S), message
    for words in GUIDANCE:
        assert words in message
    # prepare runs the same check first
    with pytest.raises(DataError, match="image-net.org"):
        prepare_tiered(fx, tmp_path / "out", train, val)
    assert not (tmp_path / "out").exists()
