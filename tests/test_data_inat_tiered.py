"""iNaturalist-2019 and tieredImageNet-H preparation, offline, on tiny archives in the real formats.

Each fixture goes the real way: haframe.downloads.download (file:// source, sha256 checked) ->
haframe.archives.safe_extract (the iNat tarball, the split-list archives) -> prepare -> make_loader.
The ILSVRC-2012 tars are never extracted: prepare streams them. Every source image is a
solid colour with a black strip over its left fifth, so a prepared image shows whether it
came from the right source and was stretched (not cropped) to 224 x 224.
"""

from __future__ import annotations

import io
import re
import shutil
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from reference_files import reference_file
from haframe.archives import UnsafeArchiveError, safe_extract
from haframe.data.kinds import inat19 as inat, tiered_imagenet as tiered
from haframe.data.split_lists import plan_rows
from haframe.data.files import read_index
from haframe.data.loaders import make_loader
from haframe.data.prepared import DataError, read_classes, read_meta
from haframe.data.split_lists import content_digest, verified_split_lists
from haframe.data.transforms import NORMALISATION
from haframe.downloads import download
from haframe.fileio import sha256_of

SPLITS = ("train", "val", "test")
SIZES = [(50, 30), (37, 61), (64, 48), (29, 29), (101, 17)]
CPU = torch.device("cpu")


def colour(i: int) -> tuple[int, int, int]:
    return (40 + (i * 47) % 180, 40 + (i * 89) % 180, 40 + (i * 131) % 180)


def jpeg(i: int) -> bytes:
    """Image number i: odd size, colour(i), black left fifth."""
    width, height = SIZES[i % len(SIZES)]
    array = np.empty((height, width, 3), np.uint8)
    array[:] = colour(i)
    array[:, : width // 5] = 0
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=98)
    return buffer.getvalue()


@dataclass
class Fixture:
    root: Path
    classes: list[str]
    # split -> [(class, basename, image number)] in class order of `classes`, then list order
    listed: dict[str, list[tuple[str, str, int]]] = field(default_factory=dict)
    unlisted: list[str] = field(default_factory=list)
    sources: dict[str, Path] = field(default_factory=dict)

    def lists(self) -> dict[str, dict[str, list[str]]]:
        return {s: {c: [n for cc, n, _ in self.listed[s] if cc == c] for c in self.classes} for s in SPLITS}

    def expected(self) -> dict[str, tuple[int, int]]:
        return {s: (len(self.listed[s]), len(self.classes)) for s in SPLITS}

    def digest(self) -> str:
        return content_digest(self.lists())


def fetch(archive: Path, work: Path, name: str) -> Path:
    """download (file:// URL, sha256 checked) then safe_extract: the path every source takes."""
    local = download(archive.as_uri(), work / "downloads" / archive.name, sha256=sha256_of(archive))
    return safe_extract(local, work / "extracted" / name)


def write_list_files(folder: Path, lists: dict[str, dict[str, list[str]]]) -> None:
    for split, classes in lists.items():
        (folder / split).mkdir(parents=True, exist_ok=True)
        for cls, names in classes.items():
            (folder / split / f"{cls}.txt").write_text("".join(n + "\n" for n in names))


def check_prepared(out: Path, fx: Fixture, meta: dict, recipe: str) -> None:
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


def check_loaders(out: Path, fx: Fixture) -> None:
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

INAT_FOLDERS = {"nat0000": "Plants/0", "nat0001": "Plants/1", "nat0002": "Birds/2"}
INAT_PER_SPLIT = {"train": 3, "val": 2, "test": 2}


def build_inat(root: Path, *, drop: str | None = None) -> Fixture:
    """train_val2019.tar.gz and inaturalist19 split lists (.tar.gz); ``drop`` leaves one listed
    image out of the tarball."""
    fx = Fixture(root, classes=["nat0002", "nat0000", "nat0001"])  # hierarchy order, not sorted
    src = root / "src"
    number = 0
    for split in SPLITS:
        fx.listed[split] = []
    for cls in fx.classes:
        folder = src / "train_val2019" / INAT_FOLDERS[cls]
        folder.mkdir(parents=True)
        for split in SPLITS:
            for _ in range(INAT_PER_SPLIT[split]):
                name = f"{number:08x}{'ab' * 12}.jpg"
                (folder / name).write_bytes(jpeg(number))
                fx.listed[split].append((cls, name, number))
                number += 1
        name = f"{number:08x}{'cd' * 12}.jpg"  # in the tarball, in no list
        (folder / name).write_bytes(jpeg(number))
        fx.unlisted.append(name)
        number += 1
    other = src / "train_val2019" / "Birds" / "7"  # a category no list names
    other.mkdir(parents=True)
    (other / "ffffffff.jpg").write_bytes(jpeg(number))
    fx.unlisted.append("ffffffff.jpg")
    if drop is not None:
        next(src.rglob(drop)).unlink()
    fx.sources["images"] = root / "train_val2019.tar.gz"
    with tarfile.open(fx.sources["images"], "w:gz") as tar:
        tar.add(src / "train_val2019", arcname="train_val2019")
    write_list_files(root / "lists" / "inaturalist19", fx.lists())
    fx.sources["lists"] = root / "inat19_split_lists.tar.gz"
    with tarfile.open(fx.sources["lists"], "w:gz") as tar:
        tar.add(root / "lists" / "inaturalist19", arcname="inaturalist19")
    shutil.rmtree(src)
    shutil.rmtree(root / "lists")
    return fx


def prepare_inat(fx: Fixture, out: Path, **overrides) -> dict:
    images = fetch(fx.sources["images"], fx.root, "train_val2019")
    lists = fetch(fx.sources["lists"], fx.root, "inat19_lists")
    options = dict(expected=fx.expected(), splits_digest=fx.digest(), threads=2)
    return inat.prepare(images, lists, out, overrides.pop("classes", fx.classes), **{**options, **overrides})


@pytest.fixture(scope="module")
def inat_prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("inat")
    fx = build_inat(root)
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
    fx = build_inat(tmp_path)
    with pytest.raises(DataError, match="digest"):
        prepare_inat(fx, tmp_path / "out", splits_digest="0" * 64)
    assert not (tmp_path / "out").exists()


def test_inat_missing_listed_image_is_named(tmp_path):
    fx = build_inat(tmp_path)
    victim = fx.listed["val"][3][1]
    fx = build_inat(tmp_path / "again", drop=victim)
    with pytest.raises(DataError, match=victim):
        prepare_inat(fx, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # checked before converting anything


def test_inat_class_set_must_equal_the_hierarchy(tmp_path):
    fx = build_inat(tmp_path)
    with pytest.raises(DataError, match=r"nat0002.*nat0005|nat0005.*nat0002"):
        prepare_inat(fx, tmp_path / "out", classes=["nat0000", "nat0001", "nat0005"])


def test_inat_count_mismatch_names_split_and_numbers(tmp_path):
    fx = build_inat(tmp_path)
    expected = {**fx.expected(), "val": (7, 3)}
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

WNIDS = ["n01443537", "n01440764", "n01484850"]  # hierarchy order, not sorted
TIERED_PER_SPLIT = {"train": 3, "val": 2, "test": 2}
GUIDANCE = [
    "ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar", "https://image-net.org/download-images",
    "datasets.tiered_imagenet.imagenet.train", "datasets.tiered_imagenet.imagenet.val",
    "remove tiered_imagenet from `datasets`", "--configfile", "Ren et al",
]


def tar_bytes(members: list[tuple[str, bytes | tarfile.TarInfo]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members:
            if isinstance(data, tarfile.TarInfo):
                tar.addfile(data)
            else:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def symlink(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info


def build_tiered(root: Path, *, drop: str | None = None, hostile: str | None = None) -> Fixture:
    """ILSVRC2012_img_train.tar (a tar of per-class tars), ILSVRC2012_img_val.tar (flat), the
    same as extracted folders, and splits_tieredImageNet-H lists (.zip).

    ``drop`` leaves one listed image out of every source; ``hostile`` adds a bad member:
    'inner_dotdot', 'inner_symlink', 'outer_dotdot' or 'val_absolute'."""
    root.mkdir(parents=True, exist_ok=True)
    fx = Fixture(root, classes=list(WNIDS))
    for split in SPLITS:
        fx.listed[split] = []
    number, val_number = 0, 1
    train_members: dict[str, list[tuple[str, bytes]]] = {}
    val_members: list[tuple[str, bytes, str]] = []  # (name, data, wnid)
    for wnid in fx.classes:
        train_members[wnid] = []
        for k in range(TIERED_PER_SPLIT["train"] + 1):  # the last one is in no list
            name = f"{wnid}_{10026 + 7 * k}.JPEG"
            train_members[wnid].append((name, jpeg(number)))
            if k < TIERED_PER_SPLIT["train"]:
                fx.listed["train"].append((wnid, name, number))
            else:
                fx.unlisted.append(name)
            number += 1
        for split in ("val", "test"):
            for _ in range(TIERED_PER_SPLIT[split]):
                name = f"ILSVRC2012_val_{val_number:08d}.JPEG"
                val_members.append((name, jpeg(number), wnid))
                fx.listed[split].append((wnid, name, number))
                number, val_number = number + 1, val_number + 3
    name = f"ILSVRC2012_val_{val_number:08d}.JPEG"  # in no list
    val_members.append((name, jpeg(number), "n09999999"))
    fx.unlisted.append(name)
    train_members["n09999999"] = [("n09999999_1.JPEG", jpeg(number + 1))]  # a class no list names
    fx.unlisted.append("n09999999_1.JPEG")
    val_members.sort()  # the real val tar is in file-name order

    if drop is not None:
        train_members = {w: [(n, d) for n, d in m if n != drop] for w, m in train_members.items()}
        val_members = [m for m in val_members if m[0] != drop]
    inner: dict[str, list] = {w: list(m) for w, m in train_members.items()}
    outer: list = []
    val_entries: list = [(n, d) for n, d, _ in val_members]
    evil = jpeg(99)
    if hostile == "inner_dotdot":
        inner[WNIDS[1]].insert(1, ("../../evil.JPEG", evil))
    elif hostile == "inner_symlink":
        inner[WNIDS[1]].insert(1, ("", symlink(f"{WNIDS[1]}_1.JPEG", "../../../evil.JPEG")))
    elif hostile == "outer_dotdot":
        outer.append(("../evil.tar", tar_bytes([("evil.JPEG", evil)])))
    elif hostile == "val_absolute":
        val_entries.insert(2, (str(root / "evil.JPEG"), evil))
    outer[:0] = [(f"{w}.tar", tar_bytes(m)) for w, m in sorted(inner.items())]  # hostile ones last
    fx.sources["train_tar"] = root / "ILSVRC2012_img_train.tar"
    fx.sources["train_tar"].write_bytes(tar_bytes(outer))
    fx.sources["val_tar"] = root / "ILSVRC2012_img_val.tar"
    fx.sources["val_tar"].write_bytes(tar_bytes(val_entries))

    # the same images as extracted folders (train: <wnid>/<file>; val: per-class folders)
    fx.sources["train_dir"] = root / "train"
    for wnid, members in train_members.items():
        (root / "train" / wnid).mkdir(parents=True)
        for name, data in members:
            (root / "train" / wnid / name).write_bytes(data)
    fx.sources["val_dir"] = root / "val"
    for name, data, wnid in val_members:
        (root / "val" / wnid).mkdir(parents=True, exist_ok=True)
        (root / "val" / wnid / name).write_bytes(data)

    # zipped from files on disk, as the published zip was (members carry S_IFREG / S_IFDIR modes)
    folder = root / "lists" / "splits_tieredImageNet-H"
    write_list_files(folder, fx.lists())
    fx.sources["lists"] = root / "splits_tiered.zip"
    with zipfile.ZipFile(fx.sources["lists"], "w") as zf:
        for path in sorted([folder, *folder.rglob("*")]):
            zf.write(path, path.relative_to(folder.parent).as_posix())
    shutil.rmtree(root / "lists")
    return fx


def prepare_tiered(fx: Fixture, out: Path, train: Path, val: Path, **overrides) -> dict:
    lists = fetch(fx.sources["lists"], fx.root, "tiered_lists")
    options = dict(expected=fx.expected(), splits_digest=fx.digest(), threads=2)
    return tiered.prepare(train, val, lists, out, fx.classes, **{**options, **overrides})


@pytest.fixture(scope="module")
def tiered_prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiered")
    fx = build_tiered(root)
    # the user's ImageNet copy reaches the pipeline as local files (no download: login needed)
    train = download(fx.sources["train_tar"].as_uri(), root / "user" / "ILSVRC2012_img_train.tar")
    val = download(fx.sources["val_tar"].as_uri(), root / "user" / "ILSVRC2012_img_val.tar")
    meta = prepare_tiered(fx, root / "prepared", train, val)
    return fx, root / "prepared", meta


def test_tiered_streams_the_ilsvrc_tars_into_the_images_layout(tiered_prepared):
    fx, out, meta = tiered_prepared
    assert meta["counts"] == {"train": 9, "val": 6, "test": 6}
    check_prepared(out, fx, meta, "imagenet")
    # nothing was extracted from the tars: the only JPEGs are the fixture's folders and the prepared ones
    allowed = (fx.sources["train_dir"], fx.sources["val_dir"], out / "images")
    assert all(any(p.is_relative_to(a) for a in allowed) for p in fx.root.rglob("*.JPEG"))


def test_tiered_loaders_batch_every_split_and_score_every_test_image(tiered_prepared):
    fx, out, _ = tiered_prepared
    check_loaders(out, fx)


def test_tiered_extracted_folders_give_the_same_dataset(tiered_prepared, tmp_path):
    fx, out, meta = tiered_prepared
    other = tmp_path / "from_folders"
    assert prepare_tiered(fx, other, fx.sources["train_dir"], fx.sources["val_dir"]) == meta
    check_prepared(other, fx, meta, "imagenet")
    for name in ("classes.txt", "train.csv", "val.csv", "test.csv"):
        assert (other / name).read_bytes() == (out / name).read_bytes()
    for path in (out / "images").rglob("*.JPEG"):
        assert (other / path.relative_to(out)).read_bytes() == path.read_bytes()
    # a flat val folder works too
    flat = tmp_path / "val_flat"
    flat.mkdir()
    for path in fx.sources["val_dir"].rglob("*.JPEG"):
        shutil.copy(path, flat / path.name)
    third = tmp_path / "flat"
    assert prepare_tiered(fx, third, fx.sources["train_tar"], flat) == meta
    assert (third / "test.csv").read_bytes() == (out / "test.csv").read_bytes()


def test_tiered_wrong_digest_is_refused(tmp_path):
    fx = build_tiered(tmp_path)
    with pytest.raises(DataError, match="digest"):
        prepare_tiered(fx, tmp_path / "out", fx.sources["train_tar"], fx.sources["val_tar"], splits_digest="1" * 64)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("split, source", [("train", "tar"), ("test", "tar"), ("train", "dir"), ("val", "dir")])
def test_tiered_missing_listed_image_is_named(tmp_path, split, source):
    victim = build_tiered(tmp_path / "probe").listed[split][4][1]
    fx = build_tiered(tmp_path / "fx", drop=victim)
    with pytest.raises(DataError, match=rf"{victim} \({split}/"):
        prepare_tiered(fx, tmp_path / "out", fx.sources[f"train_{source}"], fx.sources[f"val_{source}"])
    assert not (tmp_path / "out" / "meta.json").exists()
    if source == "dir":  # folders are indexed before anything is converted
        assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("hostile", ["inner_dotdot", "inner_symlink", "outer_dotdot", "val_absolute"])
def test_tiered_hostile_tar_members_are_refused_and_never_written(tmp_path, hostile):
    fx = build_tiered(tmp_path / "fx", hostile=hostile)
    out = tmp_path / "deep" / "er" / "out"
    with pytest.raises(UnsafeArchiveError, match="evil|n01440764_1.JPEG"):
        prepare_tiered(fx, out, fx.sources["train_tar"], fx.sources["val_tar"])
    evil = [p for p in tmp_path.rglob("*") if "evil" in p.name or p.name == "n01440764_1.JPEG"]
    assert evil == []
    assert not (out / "meta.json").exists()


def test_check_imagenet_accepts_the_real_layouts(tmp_path):
    fx = build_tiered(tmp_path)
    tiered.check_imagenet(fx.sources["train_tar"], fx.sources["val_tar"])
    tiered.check_imagenet(fx.sources["train_dir"], fx.sources["val_dir"])  # val in per-class folders
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "ILSVRC2012_val_00000001.JPEG").write_bytes(jpeg(0))
    tiered.check_imagenet(str(fx.sources["train_dir"]), str(flat))


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
    fx = build_tiered(tmp_path)
    train, val = fx.sources["train_tar"], fx.sources["val_tar"]
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
        val = fx.sources["train_dir"]
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

