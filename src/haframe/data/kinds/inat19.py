"""iNaturalist 2019 (K=1010) prepared from ``train_val2019.tar.gz`` and the published split lists.

The tarball is extracted by ``haframe.archives.safe_extract``; its images live at
``train_val2019/<supercategory>/<category_id>/<hash>.jpg``. Class ``nat%04d`` is the iNat-2019
category id (the folder name). The split lists re-partition train+val per class
(``<split>/nat####.txt``, one file name a line: 187,385 / 40,121 / 40,737 images) and are
verified by their content digest. Listed images are stretched to 224 x 224 once, into the
``images`` layout (``haframe.data.loaders``). The json annotation files are not needed.
"""

from __future__ import annotations

import re
import shutil
import tarfile
from collections.abc import Callable, Sequence
from pathlib import Path

from ...hierarchy import Hierarchy
from ..files import ImageTask, convert_images
from ..prepared import SPLITS, DataError
from ..split_lists import content_digest, destination, finish, plan_rows, shown, verified_split_lists
from .base import (
    STORE,
    DatasetKind,
    PrepareJob,
    Source,
    expected_counts,
    published_sizes,
    source_overrides,
    splits_digest,
)
from .fixtures import ListedFixture, jpeg, listed_counts, listed_names, write_list_files

EXPECTED = {"train": (187385, 1010), "val": (40121, 1010), "test": (40737, 1010)}
SPLITS_DIGEST = "ebe34529700e4018f8b3c2f71a2b1a5ff46cb4d9dcace73591f7632d83b35fcf"
DATASET = "inat19"
TOP = "train_val2019"
_CLASS = re.compile(r"nat(\d{4})")
MBM = "https://raw.githubusercontent.com/fiveai/making-better-mistakes/f0bb7d0a7c4a9c7c9517045a4be4446e9baf824f"


def find_top(images_root: Path) -> Path:
    """The one ``train_val2019`` folder under ``images_root`` (at most three levels down), or
    ``images_root`` itself where it is that folder."""
    images_root = Path(images_root)
    found = [p for depth in range(1, 4) for p in images_root.glob("/".join(["*"] * (depth - 1) + [TOP])) if p.is_dir()]
    if not found and images_root.name == TOP and images_root.is_dir():
        return images_root  # given the train_val2019 folder itself
    if len(found) != 1:
        raise DataError(
            f"{DATASET}: expected one '{TOP}/' folder (the extracted train_val2019.tar.gz) under {images_root}, "
            f"found {len(found)}{': ' + shown([str(p) for p in found]) if found else ''}"
        )
    return found[0]


def category_folders(top: Path) -> dict[int, Path]:
    """{category id: folder} from ``<top>/<supercategory>/<category_id>/``."""
    folders: dict[int, Path] = {}
    for supercategory in sorted(p for p in top.iterdir() if p.is_dir()):
        for folder in sorted(p for p in supercategory.iterdir() if p.is_dir() and p.name.isdigit()):
            cid = int(folder.name)
            if cid in folders:
                raise DataError(f"{DATASET}: category {cid} has two folders: {folders[cid]} and {folder}")
            folders[cid] = folder
    return folders


def prepare(
    images_root: Path,
    splits_root: Path,
    out_dir: Path,
    classes: Sequence[str],
    *,
    expected=EXPECTED,
    splits_digest: str | None = SPLITS_DIGEST,
    size: int = 224,
    threads: int = 1,
    log: Callable[[str], None] = lambda m: None,
) -> dict:
    """Prepare iNat-2019 in the images layout under ``out_dir``; returns the meta dict.

    Everything is checked before the first image is converted: the lists' digest, the counts,
    the class set, and that every listed image exists in its class's folder.
    """
    out_dir = Path(out_dir)
    lists = verified_split_lists(splits_root, splits_digest)
    rows = plan_rows(DATASET, lists, classes, expected)
    for cls in classes:
        if not _CLASS.fullmatch(cls):
            raise DataError(f"{DATASET}: class {cls!r} is not of the form nat#### (the iNat-2019 category id)")
    top = find_top(images_root)
    folders = category_folders(top)
    absent = sorted(cls for cls in classes if int(cls[3:]) not in folders)
    if absent:
        raise DataError(
            f"{DATASET}: {len(absent)} classes have no category folder {top}/<supercategory>/<id>/: {shown(absent)}"
        )
    sources = {split: [(folders[int(cls[3:])] / name, cls, name) for cls, _, name in rows[split]] for split in SPLITS}
    missing = [
        f"{source} ({split}/{cls})" for split in SPLITS for source, cls, name in sources[split] if not source.is_file()
    ]
    if missing:
        raise DataError(f"{DATASET}: {len(missing)} listed images are missing: {shown(missing)}")

    (out_dir / "meta.json").unlink(missing_ok=True)  # not complete until written again
    total = sum(len(v) for v in rows.values())
    log(f"{DATASET}: converting {total} images to {size}x{size} under {out_dir / 'images'}")
    tasks = (
        ImageTask(source.read_bytes, destination(out_dir, split, cls, name), str(source))
        for split in SPLITS
        for source, cls, name in sources[split]
    )
    done = convert_images(tasks, threads=threads, log=log, size=size)
    log(f"{DATASET}: {done} images prepared")
    return finish(out_dir, classes, rows, lists, recipe="inat", size=size)


def prepare_job(job: PrepareJob) -> dict:
    digest = job.options.get("splits_digest", SPLITS_DIGEST)
    return prepare(
        job.inputs["images"],
        job.inputs["splits"],
        job.out_dir,
        job.classes,
        expected=job.expected_counts(EXPECTED),
        splits_digest=digest,
        threads=job.threads,
        log=job.log,
    )


# --------------------------------------------------------------------------- fixture

FIXTURE_FOLDERS = {"nat0002": "Birds/2", "nat0000": "Plants/0", "nat0001": "Plants/1"}  # hierarchy order, not sorted
FIXTURE_PER_SPLIT = {"train": 3, "val": 2, "test": 2}


def fixture(root: Path, *, drop: str | None = None) -> ListedFixture:
    """train_val2019.tar.gz (an unlisted image in every class folder, and a category no list
    names) and the inaturalist19 split lists (.tar.gz); ``drop`` leaves one listed image out
    of the tarball."""
    root = Path(root)
    classes, src = list(FIXTURE_FOLDERS), root / "src"
    listed: dict[str, list[tuple[str, str, int]]] = {split: [] for split in SPLITS}
    unlisted, number = [], 0
    for cls in classes:
        folder = src / TOP / FIXTURE_FOLDERS[cls]
        folder.mkdir(parents=True)
        for split in SPLITS:
            for _ in range(FIXTURE_PER_SPLIT[split]):
                name = f"{number:08x}{'ab' * 12}.jpg"
                (folder / name).write_bytes(jpeg(number))
                listed[split].append((cls, name, number))
                number += 1
        name = f"{number:08x}{'cd' * 12}.jpg"  # in the tarball, in no list
        (folder / name).write_bytes(jpeg(number))
        unlisted.append(name)
        number += 1
    other = src / TOP / "Birds" / "7"  # a category no list names
    other.mkdir(parents=True)
    (other / "ffffffff.jpg").write_bytes(jpeg(number))
    unlisted.append("ffffffff.jpg")
    if drop is not None:
        next(src.rglob(drop)).unlink()
    sources = {"images": root / f"{TOP}.tar.gz", "splits": root / "inat19_split_lists.tar.gz"}
    with tarfile.open(sources["images"], "w:gz") as tar:
        tar.add(src / TOP, arcname=TOP)
    lists = listed_names(classes, listed)
    write_list_files(root / "lists" / "inaturalist19", lists)
    with tarfile.open(sources["splits"], "w:gz") as tar:
        tar.add(root / "lists" / "inaturalist19", arcname="inaturalist19")
    shutil.rmtree(src)
    shutil.rmtree(root / "lists")
    counts = listed_counts(classes, listed)
    return ListedFixture(
        sources=sources,
        options={"counts": counts, "splits_digest": content_digest(lists)},
        hierarchy=Hierarchy.from_paths([["root", FIXTURE_FOLDERS[c].split("/")[0], c] for c in classes]),
        counts=counts,
        root=root,
        classes=classes,
        listed=listed,
        unlisted=unlisted,
    )


KIND = DatasetKind(
    name="inat19",
    prepare=prepare_job,
    fixture=fixture,
    sources={
        "images": Source(
            "https://ml-inat-competition-datasets.s3.amazonaws.com/2019/train_val2019.tar.gz",
            "train_val2019.tar.gz",
            md5="c60a6e2962c9b8ccbd458d12c8582644",
            disk_mb=90_000,
        ),
        # archive checksum unpublished (lock file); the lists are verified by content digest
        "splits": Source(f"{MBM}/dataset_splits/splits_inat19.zip", "splits_inat19.zip"),
    },
    split_sizes=published_sizes(EXPECTED),
    options={
        "sources": source_overrides(),
        "counts": expected_counts(EXPECTED),
        "store": STORE,
        "splits_digest": splits_digest(SPLITS_DIGEST),
    },
    threads=16,
    mem_mb=8_000,
    runtime_min=12 * 60,
    disk_mb=30_000,
)
