"""FGVC-Aircraft from the extracted ``fgvc-aircraft-2013b.tar.gz`` into the ``images`` layout.

Preparation as published: the bottom 20 pixel rows (copyright banner) of every original
image are cropped, the crop is kept at full resolution (the 224x224 resize is part of the
``fgvc`` transform recipe). Classes are the 100 variants, named ``v-<variant>`` with '/'
written '-slash-'; splits are the official train / val / test lists.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ...hierarchy import Hierarchy
from ..files import ImageTask, convert_images, write_index
from ..prepared import SPLITS, DataError, check_counts, write_meta
from ..transforms import NORMALISATION
from .base import (
    STORE,
    DatasetKind,
    KindFixture,
    PrepareJob,
    Source,
    expected_counts,
    published_sizes,
    source_overrides,
)
from .fixtures import tar_gz

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
        raise DataError(
            f"{path}: FGVC-Aircraft annotation file not found (expected the extracted fgvc-aircraft-2013b.tar.gz)"
        )
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
    extracted: Path,
    out_dir: Path,
    classes: Sequence[str],
    *,
    expected=EXPECTED,
    threads: int = 1,
    log=lambda m: None,
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
            f"hierarchy classes not in the dataset: {missing[:10]}; dataset classes not in the hierarchy: "
            f"{unknown[:10]}" + ("; the hierarchy lists a class twice" if len(index) != len(classes) else "")
        )
    found = {split: (len(rows), len({name for _, name in rows})) for split, rows in annotations.items()}
    check_counts("fgvc_aircraft", found, expected)
    absent = [
        image for rows in annotations.values() for image, _ in rows if not (data / "images" / f"{image}.jpg").is_file()
    ]
    if absent:
        raise DataError(
            f"{data / 'images'}: {len(absent)} annotated images are missing, e.g. {[a + '.jpg' for a in absent[:5]]}"
        )

    for split, rows in annotations.items():
        tasks, index_rows = [], []
        for image, name in rows:
            relative = f"images/{split}/{name}/{image}.jpg"
            source = data / "images" / f"{image}.jpg"
            tasks.append(ImageTask(source.read_bytes, out_dir / relative, str(source)))
            index_rows.append((relative, index[name]))
        convert_images(tasks, threads=threads, crop_bottom=CROP_BOTTOM, log=log)
        write_index(out_dir, split, index_rows)
        log(f"fgvc_aircraft {split}: {len(index_rows)} images in {found[split][1]} classes")
    mean, std = NORMALISATION["fgvc"]
    return write_meta(
        out_dir,
        list(classes),
        layout="images",
        counts={split: len(rows) for split, rows in annotations.items()},
        mean=list(mean),
        std=list(std),
        transform="fgvc",
        image_size=INPUT_SIZE,
    )


def prepare_job(job: PrepareJob) -> dict:
    return prepare(
        job.inputs["archive"],
        job.out_dir,
        job.classes,
        expected=job.expected_counts(EXPECTED),
        threads=job.threads,
        log=job.log,
    )


# --------------------------------------------------------------------------- fixture

FIXTURE_COLOURS = {
    "F/A-18": (200, 40, 40),
    "Cessna 172": (40, 200, 40),
    "707-320": (230, 230, 60),
    "Boeing 717": (120, 60, 160),
}
FIXTURE_FAMILIES = {"F/A-18": "fighter", "Cessna 172": "light", "707-320": "airliner", "Boeing 717": "airliner"}
FIXTURE_BANNER = (10, 10, 250)
FIXTURE_SIZE = (60, 52)  # body 32 rows: no 8x8 JPEG block (4:4:4) holds both body and banner
FIXTURE_PER_SPLIT = {"train": 2, "val": 1, "test": 2}  # images per variant


def aircraft_jpeg(colour: tuple[int, int, int]) -> bytes:
    """A solid ``colour`` image with the copyright banner (``FIXTURE_BANNER``) in its bottom 20 rows."""
    width, height = FIXTURE_SIZE
    image = Image.new("RGB", (width, height), colour)
    image.paste(FIXTURE_BANNER, (0, height - CROP_BOTTOM, width, height))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95, subsampling=0)
    return buffer.getvalue()


def fixture_files(
    per_split: dict[str, int] = FIXTURE_PER_SPLIT,
) -> tuple[dict[str, bytes], dict[str, list[tuple[str, str]]]]:
    """The archive's members ({name: bytes}) and {split: [(image id, variant)]}: ``per_split``
    images of every variant of ``FIXTURE_COLOURS`` per split."""
    data = FOLDER.as_posix()
    files, annotations, image_id = {}, {}, 1025794
    for split, n in per_split.items():
        annotations[split] = []
        for _ in range(n):
            for variant, colour in FIXTURE_COLOURS.items():
                annotations[split].append((f"{image_id:07d}", variant))
                files[f"{data}/images/{image_id:07d}.jpg"] = aircraft_jpeg(colour)
                image_id += 1
        files[f"{data}/images_variant_{split}.txt"] = "".join(f"{i} {v}\n" for i, v in annotations[split]).encode()
    files[f"{data}/variants.txt"] = "".join(v + "\n" for v in FIXTURE_COLOURS).encode()
    return files, annotations


@dataclass(frozen=True)
class FgvcFixture(KindFixture):
    annotations: dict[str, list[tuple[str, str]]]  # split -> [(image id, variant)]


def fixture(root: Path, *, per_split: dict[str, int] = FIXTURE_PER_SPLIT) -> FgvcFixture:
    """fgvc-aircraft-2013b.tar.gz of ``fixture_files(per_split)``; classes sorted."""
    files, annotations = fixture_files(per_split)
    Path(root).mkdir(parents=True, exist_ok=True)
    paths = sorted(
        (["root", family, class_name(variant)] for variant, family in FIXTURE_FAMILIES.items()), key=lambda p: p[-1]
    )
    counts = {split: (n * len(paths), len(paths)) for split, n in per_split.items()}
    return FgvcFixture(
        sources={"archive": tar_gz(Path(root) / "fgvc-aircraft-2013b.tar.gz", files)},
        options={"counts": counts},
        hierarchy=Hierarchy.from_paths(paths),
        counts=counts,
        annotations=annotations,
    )


KIND = DatasetKind(
    name="fgvc_aircraft",
    prepare=prepare_job,
    fixture=fixture,
    sources={
        "archive": Source(  # no published checksum: pinned by the lock file
            "https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/archives/fgvc-aircraft-2013b.tar.gz",
            "fgvc-aircraft-2013b.tar.gz",
        ),
    },
    split_sizes=published_sizes(EXPECTED),
    options={"sources": source_overrides(), "counts": expected_counts(EXPECTED), "store": STORE},
    threads=8,
    mem_mb=4_000,
    runtime_min=60,
    disk_mb=5_000,
)
