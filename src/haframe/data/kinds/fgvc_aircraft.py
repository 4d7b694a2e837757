"""FGVC-Aircraft from the extracted ``fgvc-aircraft-2013b.tar.gz`` into the ``images`` layout.

Preparation as published: the bottom 20 pixel rows (copyright banner) of every original
image are cropped, the crop is kept at full resolution (the 224x224 resize is part of the
``fgvc`` transform recipe). Classes are the 100 variants, named ``v-<variant>`` with '/'
written '-slash-'; splits are the official train / val / test lists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..files import convert_images, write_index
from ..prepared import SPLITS, DataError, check_counts, write_meta
from ..transforms import NORMALISATION
from .base import (
    STORE,
    DatasetKind,
    PrepareJob,
    Source,
    expected_counts,
    published_sizes,
    source_overrides,
)

EXPECTED = {"train": (3334, 100), "val": (3333, 100), "test": (3333, 100)}

FOLDER = Path("fgvc-aircraft-2013b") / "data"
CROP_BOTTOM = 20
INPUT_SIZE = 224


def class_name(variant: str) -> str:
    """Variant label as the annotation files write it -> the hierarchy's class name."""
    return "v-" + variant.replace("/", "-slash-")


def read_variants(data: Path, split: str) -> list[tuple[str, str]]:
    """[(image id, class name)] of ``images_variant_<split>.txt`` in file order."""
    path = data / f"images_variant_{split}.txt"
    if not path.is_file():
        raise DataError(f"{path}: FGVC-Aircraft annotation file not found (expected the extracted fgvc-aircraft-2013b.tar.gz)")
    rows, seen = [], set()
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        image, _, variant = line.strip().partition(" ")
        if not variant.strip():
            raise DataError(f"{path}, line {number}: expected '<image id> <variant>', got {line!r}")
        if image in seen:
            raise DataError(f"{path}, line {number}: image {image} is listed twice")
        seen.add(image)
        rows.append((image, class_name(variant.strip())))
    return rows


def prepare(
    extracted: Path, out_dir: Path, classes: Sequence[str], *, expected=EXPECTED,
    threads: int = 1, log=lambda m: None,
) -> dict:
    """Check annotations, classes, counts and image files; then crop, index and write meta."""
    data, out_dir = Path(extracted) / FOLDER, Path(out_dir)
    annotations = {split: read_variants(data, split) for split in SPLITS}

    index = {name: i for i, name in enumerate(classes)}
    dataset_classes = {name for rows in annotations.values() for _, name in rows}
    missing = sorted(set(classes) - dataset_classes)
    unknown = sorted(dataset_classes - set(classes))
    if missing or unknown or len(index) != len(classes):
        raise DataError(
            f"fgvc_aircraft: the hierarchy's classes differ from the annotation files' variants: "
            f"hierarchy classes not in the dataset: {missing[:10]}; dataset classes not in the hierarchy: {unknown[:10]}"
            + ("; the hierarchy lists a class twice" if len(index) != len(classes) else "")
        )
    found = {split: (len(rows), len({name for _, name in rows})) for split, rows in annotations.items()}
    check_counts("fgvc_aircraft", found, expected)
    absent = [image for rows in annotations.values() for image, _ in rows if not (data / "images" / f"{image}.jpg").is_file()]
    if absent:
        raise DataError(f"{data / 'images'}: {len(absent)} annotated images are missing, e.g. {[a + '.jpg' for a in absent[:5]]}")

    for split, rows in annotations.items():
        tasks, index_rows = [], []
        for image, name in rows:
            relative = f"images/{split}/{name}/{image}.jpg"
            tasks.append(((data / "images" / f"{image}.jpg").read_bytes, out_dir / relative))
            index_rows.append((relative, index[name]))
        convert_images(tasks, threads=threads, crop_bottom=CROP_BOTTOM, log=log)
        write_index(out_dir, split, index_rows)
        log(f"fgvc_aircraft {split}: {len(index_rows)} images in {found[split][1]} classes")
    mean, std = NORMALISATION["fgvc"]
    return write_meta(
        out_dir, list(classes), layout="images", counts={split: len(rows) for split, rows in annotations.items()},
        mean=list(mean), std=list(std), transform="fgvc", image_size=INPUT_SIZE,
    )


def prepare_job(job: PrepareJob) -> dict:
    return prepare(job.inputs["archive"], job.out_dir, job.classes, expected=job.expected_counts(EXPECTED), threads=job.threads, log=job.log)


KIND = DatasetKind(
    name="fgvc_aircraft",
    prepare=prepare_job,
    sources={
        "archive": Source(  # no published checksum: pinned by the lock file
            "https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/archives/fgvc-aircraft-2013b.tar.gz",
            "fgvc-aircraft-2013b.tar.gz",
        ),
    },
    split_sizes=published_sizes(EXPECTED),
    options={"sources": source_overrides(), "counts": expected_counts(EXPECTED), "store": STORE},
    threads=8, mem_mb=4_000, runtime_min=60, disk_mb=5_000,
)
