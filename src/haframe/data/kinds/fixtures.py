"""What the kinds' ``fixture`` functions share: archive and JPEG writers, and the fixture of a
kind whose split lists name its images (inat19, tiered_imagenet)."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..prepared import SPLITS
from ..split_lists import content_digest
from .base import KindFixture

SIZES = [(50, 30), (37, 61), (64, 48), (29, 29), (101, 17)]  # (width, height) of jpeg(i), in turn


def colour(i: int) -> tuple[int, int, int]:
    return (40 + (i * 47) % 180, 40 + (i * 89) % 180, 40 + (i * 131) % 180)


def jpeg(i: int) -> bytes:
    """Image number i: an odd size, colour(i), its left fifth black (a crop would lose it)."""
    width, height = SIZES[i % len(SIZES)]
    array = np.empty((height, width, 3), np.uint8)
    array[:] = colour(i)
    array[:, : width // 5] = 0
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=98)
    return buffer.getvalue()


def tar_gz(path: Path, files: Mapping[str, bytes]) -> Path:
    """A .tar.gz of regular files, by member name."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def tar_bytes(members: list[tuple[str, bytes | tarfile.TarInfo]]) -> bytes:
    """An uncompressed tar of (name, data) members; a TarInfo is added as it is (a link)."""
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


def write_list_files(folder: Path, lists: Mapping[str, Mapping[str, list[str]]]) -> None:
    """Split lists as published: ``<folder>/<split>/<class>.txt``, one file name a line."""
    for split, classes in lists.items():
        (folder / split).mkdir(parents=True, exist_ok=True)
        for cls, names in classes.items():
            (folder / split / f"{cls}.txt").write_text("".join(n + "\n" for n in names))


@dataclass(frozen=True)
class ListedFixture(KindFixture):
    """The fixture of a split-list kind: which images (``jpeg(number)``) each split lists, in
    class order, which ones the sources hold besides, and the other files written (``files``,
    by name, for the kind's own tests)."""

    root: Path
    classes: list[str]
    listed: dict[str, list[tuple[str, str, int]]]  # split -> [(class, file name, image number)]
    unlisted: list[str]
    files: Mapping[str, Path] = field(default_factory=dict)

    def lists(self) -> dict[str, dict[str, list[str]]]:
        return listed_names(self.classes, self.listed)

    def digest(self) -> str:
        return content_digest(self.lists())


def listed_names(
    classes: list[str], listed: Mapping[str, list[tuple[str, str, int]]]
) -> dict[str, dict[str, list[str]]]:
    """{split: {class: [listed file names]}}, what the split lists hold."""
    return {s: {c: [n for cc, n, _ in listed[s] if cc == c] for c in classes} for s in SPLITS}


def listed_counts(classes: list[str], listed: Mapping[str, list]) -> dict[str, tuple[int, int]]:
    """{split: (listed images, classes)}."""
    return {s: (len(listed[s]), len(classes)) for s in SPLITS}
