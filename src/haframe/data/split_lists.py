"""Per-class split lists (``<split>/<class>.txt``, one image file name per line), as published
for iNaturalist-2019 and tieredImageNet-H, verified by a digest of their content; and the
preparation steps the two kinds share (planning the prepared rows, writing index and meta)."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from .files import write_index
from .prepared import SPLITS, DataError, check_counts, write_meta
from .transforms import NORMALISATION


def read_split_lists(root: str | Path) -> dict[str, dict[str, list[str]]]:
    """{split: {class: [file basename, ...]}} from the one ``<split>/`` folder set under ``root``."""
    root = Path(root)
    lists: dict[str, dict[str, list[str]]] = {}
    for split in SPLITS:
        # macOS archivers add __MACOSX/ copies of every file: never lists
        folders = sorted({p.parent for p in root.rglob(f"{split}/*.txt") if "__MACOSX" not in p.parts})
        if len(folders) != 1:
            raise DataError(f"{root}: expected one '{split}/' folder of <class>.txt lists, found {len(folders)}")
        lists[split] = {
            f.stem: [Path(line.strip()).name for line in f.read_text().splitlines() if line.strip()]
            for f in sorted(folders[0].glob("*.txt"))
        }
    return lists


def content_digest(lists: dict[str, dict[str, list[str]]]) -> str:
    """sha256 of the sorted lines ``split<TAB>class<TAB>basename\\n`` over all splits."""
    lines = sorted(
        f"{split}\t{cls}\t{name}\n"
        for split, classes in lists.items()
        for cls, names in classes.items()
        for name in names
    )
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def verified_split_lists(root: str | Path, digest: str | None) -> dict[str, dict[str, list[str]]]:
    """Read the lists and fail unless their content digest is ``digest`` (None: not checked)."""
    lists = read_split_lists(root)
    found = content_digest(lists)
    if digest is not None and found != digest:
        raise DataError(f"{root}: split lists' content digest is {found}, expected {digest}")
    return lists


# one prepared image: (class, label, file basename)
Row = tuple[str, int, str]


def shown(names: Sequence[str], limit: int = 10) -> str:
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
        raise DataError(f"{dataset}: the hierarchy names classes more than once: {shown(repeated)}")
    found = {
        split: (sum(len(v) for v in lists[split].values()), sum(1 for v in lists[split].values() if v))
        for split in SPLITS
    }
    check_counts(dataset, found, expected)
    listed = {cls for split in SPLITS for cls, names in lists[split].items() if names}
    missing = [c for c in classes if c not in listed]
    unknown = sorted(listed - set(classes))
    if missing or unknown:
        raise DataError(
            f"{dataset}: the split lists' classes differ from the hierarchy's: "
            f"{len(missing)} hierarchy classes have no listed image ({shown(missing) or 'none'}); "
            f"{len(unknown)} listed classes are not in the hierarchy ({shown(unknown) or 'none'})"
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
        raise DataError(f"{dataset}: {len(repeated)} files are listed more than once: {shown(repeated)}")
    label = {cls: i for i, cls in enumerate(classes)}
    return {
        split: [(cls, label[cls], name) for cls in classes for name in lists[split].get(cls, [])] for split in SPLITS
    }


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
        out_dir,
        list(classes),
        layout="images",
        counts={split: len(rows[split]) for split in SPLITS},
        mean=list(mean),
        std=list(std),
        transform=recipe,
        image_size=size,
        splits_digest=content_digest(lists),
    )
