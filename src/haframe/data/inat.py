"""iNaturalist 2019 (K=1010) prepared from ``train_val2019.tar.gz`` and the published split lists.

The tarball is extracted by ``haframe.io.safe_extract``; its images live at
``train_val2019/<supercategory>/<category_id>/<hash>.jpg``. Class ``nat%04d`` is the iNat-2019
category id (the folder name). The split lists re-partition train+val per class
(``<split>/nat####.txt``, one file name a line: 187,385 / 40,121 / 40,737 images) and are
verified by their content digest. Listed images are stretched to 224 x 224 once, into the
``images`` layout (``images.py``). The json annotation files are not needed.

``plan_rows`` and ``finish`` are shared with tieredImageNet-H (``tiered.py``).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Callable, Sequence

from .files import convert_images, write_index
from .prepared import SPLITS, DataError, check_counts, write_meta
from .split_lists import content_digest, verified_split_lists
from .transforms import NORMALISATION

EXPECTED = {"train": (187385, 1010), "val": (40121, 1010), "test": (40737, 1010)}
SPLITS_DIGEST = "ebe34529700e4018f8b3c2f71a2b1a5ff46cb4d9dcace73591f7632d83b35fcf"
DATASET = "inat19"
TOP = "train_val2019"
_CLASS = re.compile(r"nat(\d{4})")

# one prepared image: (class, label, file basename)
Row = tuple[str, int, str]


def _shown(names: Sequence[str], limit: int = 10) -> str:
    names = list(names)
    more = f" ... and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _check_component(dataset: str, what: str, name: str) -> None:
    """A class or file name becomes one path component of a prepared file: refuse anything else."""
    if name in ("", ".", "..") or any(c in name for c in "/\\\0"):
        raise DataError(f"{dataset}: {what} {name!r} is not a plain file name")


def plan_rows(
    dataset: str,
    lists: dict[str, dict[str, list[str]]],
    classes: Sequence[str],
    expected: dict[str, tuple[int, int]],
) -> dict[str, list[Row]]:
    """Check verified split lists against the expected counts and the hierarchy's classes.

    Returns {split: [(class, label, basename), ...]} in class order, then list order; label is
    the class's index in ``classes``. Every failure is a DataError that names what is wrong.
    """
    classes = list(classes)
    repeated = sorted(c for c, n in Counter(classes).items() if n > 1)
    if repeated:
        raise DataError(f"{dataset}: the hierarchy names classes more than once: {_shown(repeated)}")
    found = {split: (sum(len(v) for v in lists[split].values()), sum(1 for v in lists[split].values() if v)) for split in SPLITS}
    check_counts(dataset, found, expected)
    listed = {cls for split in SPLITS for cls, names in lists[split].items() if names}
    missing = [c for c in classes if c not in listed]
    unknown = sorted(listed - set(classes))
    if missing or unknown:
        raise DataError(
            f"{dataset}: the split lists' classes differ from the hierarchy's: "
            f"{len(missing)} hierarchy classes have no listed image ({_shown(missing) or 'none'}); "
            f"{len(unknown)} listed classes are not in the hierarchy ({_shown(unknown) or 'none'})"
        )
    where: dict[str, list[str]] = {}
    for split in SPLITS:
        for cls, names in lists[split].items():
            _check_component(dataset, "class", cls)
            for name in names:
                _check_component(dataset, f"listed file in {split}/{cls}", name)
                where.setdefault(name, []).append(f"{split}/{cls}")
    repeated = [f"{name} ({', '.join(places)})" for name, places in where.items() if len(places) > 1]
    if repeated:
        raise DataError(f"{dataset}: {len(repeated)} files are listed more than once: {_shown(repeated)}")
    label = {cls: i for i, cls in enumerate(classes)}
    return {split: [(cls, label[cls], name) for cls in classes for name in lists[split].get(cls, [])] for split in SPLITS}


def destination(out_dir: Path, split: str, cls: str, name: str) -> Path:
    return out_dir / relative(split, cls, name)


def relative(split: str, cls: str, name: str) -> str:
    return f"images/{split}/{cls}/{name}"


def finish(
    out_dir: Path,
    classes: Sequence[str],
    rows: dict[str, list[Row]],
    lists: dict[str, dict[str, list[str]]],
    *,
    recipe: str,
    size: int,
) -> dict:
    """Index files, then classes.txt and meta.json (written last: the completion mark)."""
    for split in SPLITS:
        write_index(out_dir, split, [(relative(split, cls, name), label) for cls, label, name in rows[split]])
    mean, std = NORMALISATION[recipe]
    return write_meta(
        out_dir, list(classes), layout="images",
        counts={split: len(rows[split]) for split in SPLITS},
        mean=list(mean), std=list(std), transform=recipe, image_size=size,
        splits_digest=content_digest(lists),
    )


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
            f"found {len(found)}{': ' + _shown([str(p) for p in found]) if found else ''}"
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
            f"{DATASET}: {len(absent)} classes have no category folder {top}/<supercategory>/<id>/: {_shown(absent)}"
        )
    sources = {split: [(folders[int(cls[3:])] / name, cls, name) for cls, _, name in rows[split]] for split in SPLITS}
    missing = [f"{source} ({split}/{cls})" for split in SPLITS for source, cls, name in sources[split] if not source.is_file()]
    if missing:
        raise DataError(f"{DATASET}: {len(missing)} listed images are missing: {_shown(missing)}")

    (out_dir / "meta.json").unlink(missing_ok=True)  # not complete until written again
    total = sum(len(v) for v in rows.values())
    log(f"{DATASET}: converting {total} images to {size}x{size} under {out_dir / 'images'}")
    tasks = (
        (source.read_bytes, destination(out_dir, split, cls, name))
        for split in SPLITS for source, cls, name in sources[split]
    )
    done = convert_images(tasks, threads=threads, log=log, size=size)
    log(f"{DATASET}: {done} images prepared")
    return finish(out_dir, classes, rows, lists, recipe="inat", size=size)
