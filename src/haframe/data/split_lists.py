"""Per-class split lists (``<split>/<class>.txt``, one image file name per line), as published
for iNaturalist-2019 and tieredImageNet-H, verified by a digest of their content."""

from __future__ import annotations

import hashlib
from pathlib import Path

from .prepared import DataError

SPLITS = ("train", "val", "test")


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
    lines = sorted(f"{split}\t{cls}\t{name}\n" for split, classes in lists.items() for cls, names in classes.items() for name in names)
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def verified_split_lists(root: str | Path, digest: str | None) -> dict[str, dict[str, list[str]]]:
    """Read the lists and fail unless their content digest is ``digest`` (None: not checked)."""
    lists = read_split_lists(root)
    found = content_digest(lists)
    if digest is not None and found != digest:
        raise DataError(f"{root}: split lists' content digest is {found}, expected {digest}")
    return lists
