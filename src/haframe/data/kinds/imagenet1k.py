"""ImageNet-1k's validation set (ILSVRC-2012, 50,000 images, 1,000 classes): the test split on
which pretrained classifiers are evaluated as published (``pretrained`` in the config), under
the WordNet hierarchy of "Making Better Mistakes" (Bertinetto et al., CVPR 2020, Fig. 1).

ImageNet needs a login, so the user gives ``ILSVRC2012_img_val.tar`` (flat
``ILSVRC2012_val_########.JPEG``) or a folder of the val files, exactly as tieredImageNet-H
takes them. Each image's class comes from a named source: the class-subfolder layout (a folder
of ``n########/`` subfolders, as torchvision's ImageNet and most copies keep them), or the
devkit (``ILSVRC2012_devkit_t12.tar.gz``: its ground-truth file lists each val image's ILSVRC
class id, its ``meta.mat`` maps the ids to WordNet ids). The images are kept byte for byte
(decoded once to check them): each model's own preprocessing reads the original file.

There is no training or validation split: a model evaluated here was trained elsewhere.
"""

from __future__ import annotations

import io
import os
import re
import tarfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path, PurePosixPath

import numpy as np

from ...hierarchy import Hierarchy
from ...options import Option
from ..files import ImageTask, convert_images, write_index
from ..prepared import DataError, check_counts, write_meta
from ..recipes import IMAGENET_MEAN, IMAGENET_STD
from .base import DatasetKind, KindFixture, PrepareJob, expected_counts, published_sizes
from .fixtures import jpeg, tar_bytes, tar_gz
from .tiered_imagenet import checked_member

EXPECTED = {"test": (50_000, 1_000)}
DATASET = "ImageNet-1k (ILSVRC-2012 val)"
GROUND_TRUTH = "ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt"
META = "ILSVRC2012_devkit_t12/data/meta.mat"

_WNID = re.compile(r"n\d{8}")
_VAL_FILE = re.compile(r"ILSVRC2012_val_(\d{8})\.JPEG")


def guidance(name: str) -> str:
    return (
        f"{DATASET} needs a login at https://image-net.org/download-images, so the pipeline cannot download it: "
        f"download ILSVRC2012_img_val.tar (6.3 GB) and set datasets.{name}.imagenet.val to it or to its extracted "
        f"folder; the images' classes come from per-class n######## subfolders of that folder, or from the devkit "
        f"(ILSVRC2012_devkit_t12.tar.gz, same page): set datasets.{name}.imagenet.devkit to it. "
        f"The other datasets run without it."
    )


# --------------------------------------------------------------------------- checks


def _problem(val: str | None, devkit: str | None, name: str) -> str | None:
    """What is wrong with the configured sources (cheap: folder listings, a tar's first header)."""
    key = f"datasets.{name}.imagenet"
    if not val:
        return f"{key}.val is not set (ILSVRC2012_img_val.tar or its extracted folder)"
    path = Path(val).expanduser()
    if devkit is not None and not Path(devkit).expanduser().is_file():
        return f"{key}.devkit = {devkit} is not a file (ILSVRC2012_devkit_t12.tar.gz)"
    if path.is_file():
        if devkit is None:
            return (
                f"{key}.val = {path} is a tar of flat files, which name no class: set {key}.devkit to "
                "ILSVRC2012_devkit_t12.tar.gz (its ground truth), or give a folder of n######## subfolders"
            )
        return None
    if not path.is_dir():
        return f"{key}.val = {path} does not exist"
    if devkit is None and not any(_WNID.fullmatch(e.name) and e.is_dir() for e in os.scandir(path)):
        return (
            f"{key}.val = {path} holds no n######## class subfolders, so its images name no class: "
            f"set {key}.devkit to ILSVRC2012_devkit_t12.tar.gz (its ground truth)"
        )
    return None


def unavailable(options: Mapping, name: str) -> str | None:
    if (options.get("imagenet") or {}).get("val"):
        return None
    return (
        f"the ImageNet ILSVRC-2012 validation images are not set (datasets.{name}.imagenet.val; "
        "ImageNet needs a login at https://image-net.org/download-images)"
    )


def user_inputs(options: Mapping, name: str) -> dict[str, str]:
    imagenet = options.get("imagenet") or {}
    problem = _problem(imagenet.get("val"), imagenet.get("devkit"), name)
    if problem:
        raise DataError(f"{DATASET}: {problem}.\n{guidance(name)}")
    return {key: imagenet[key] for key in ("val", "devkit") if imagenet.get(key)}


# --------------------------------------------------------------------------- labels


def devkit_labels(devkit: Path) -> dict[int, str]:
    """{val image number: WordNet id} from the devkit's ground truth and ``meta.mat``."""
    from scipy.io import loadmat

    members: dict[str, bytes] = {}
    with tarfile.open(devkit, "r|*") as tar:
        for member in tar:
            if checked_member(str(devkit), member) and member.name in (GROUND_TRUTH, META):
                members[member.name] = tar.extractfile(member).read()
    missing = [name for name in (GROUND_TRUTH, META) if name not in members]
    if missing:
        raise DataError(f"{DATASET}: {devkit} lacks {', '.join(missing)}; is it ILSVRC2012_devkit_t12.tar.gz?")
    synsets = loadmat(io.BytesIO(members[META]), squeeze_me=True)["synsets"]
    wnid_of = {
        int(ilsvrc_id): str(wnid)
        for ilsvrc_id, wnid, children in zip(synsets["ILSVRC2012_ID"], synsets["WNID"], synsets["num_children"])
        if int(children) == 0
    }
    labels = {}
    for number, line in enumerate(members[GROUND_TRUTH].decode().split(), start=1):
        if int(line) not in wnid_of:
            raise DataError(f"{DATASET}: {devkit}: ground truth line {number} names class id {line}, not in meta.mat")
        labels[number] = wnid_of[int(line)]
    return labels


def _folder_images(root: Path, devkit: dict[int, str] | None) -> Iterator[tuple[str, str, Callable[[], bytes], str]]:
    """(file name, WordNet id, read, where) of each val image in ``root`` or its class folders."""
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if entry.is_dir() and _WNID.fullmatch(entry.name):
            for image in sorted(os.scandir(entry.path), key=lambda e: e.name):
                if image.is_file() and _VAL_FILE.fullmatch(image.name):
                    wnid = (
                        devkit.get(int(_VAL_FILE.fullmatch(image.name)[1]), "no ground-truth line")
                        if devkit
                        else entry.name
                    )
                    yield image.name, wnid, Path(image.path).read_bytes, image.path
        elif entry.is_file() and (match := _VAL_FILE.fullmatch(entry.name)) and devkit:
            yield entry.name, devkit.get(int(match[1]), "no ground-truth line"), Path(entry.path).read_bytes, entry.path


def _tar_images(archive: Path, devkit: dict[int, str]) -> Iterator[tuple[str, str, Callable[[], bytes], str]]:
    with tarfile.open(archive, "r|*") as tar:
        for member in tar:
            if checked_member(str(archive), member) and (match := _VAL_FILE.fullmatch(PurePosixPath(member.name).name)):
                yield (
                    match[0],
                    devkit.get(int(match[1]), "no ground-truth line"),
                    tar.extractfile(member).read,
                    f"{archive}:{member.name}",
                )


# --------------------------------------------------------------------------- preparation


def prepare_job(job: PrepareJob) -> dict:
    """The test split in the images layout, the files kept as they are; counts checked."""
    val, devkit_file = Path(job.inputs["val"]).expanduser(), job.inputs.get("devkit")
    devkit = devkit_labels(Path(devkit_file).expanduser()) if devkit_file else None
    images = _tar_images(val, devkit) if val.is_file() else _folder_images(val, devkit)
    index = {name: i for i, name in enumerate(job.classes)}
    rows, unknown = [], []

    def tasks() -> Iterator[ImageTask]:
        for name, wnid, read, where in images:
            if wnid not in index:
                unknown.append(f"{where} ({wnid})")
                continue
            relative = f"images/test/{wnid}/{name}"
            rows.append((relative, index[wnid]))
            yield ImageTask(read, job.out_dir / relative, where)

    (job.out_dir / "meta.json").unlink(missing_ok=True)  # not complete until written again
    job.log(f"{DATASET}: copying the validation images from {val} (each decoded once to check it)")
    done = convert_images(tasks(), as_is=True, threads=job.threads, log=job.log)
    if unknown:
        raise DataError(
            f"{DATASET}: {len(unknown)} of the images are of classes the hierarchy lacks, e.g. {unknown[:5]}"
        )
    found = {"test": (len(rows), len({label for _, label in rows}))}
    check_counts(DATASET, found, job.expected_counts(EXPECTED))
    rows.sort()
    write_index(job.out_dir, "test", rows)
    job.log(f"{DATASET}: {done} images in {found['test'][1]} classes")
    return write_meta(
        job.out_dir,
        list(job.classes),
        layout="images",
        counts={"test": len(rows)},
        mean=list(IMAGENET_MEAN),
        std=list(IMAGENET_STD),
        transform="imagenet",
        image_size=224,
        files="as published",  # each pretrained model applies its own preprocessing
    )


# --------------------------------------------------------------------------- fixture

FIXTURE_WNIDS = ("n01440764", "n01443537", "n01484850")
FIXTURE_PER_CLASS = 2


def _meta_mat(wnids: tuple[str, ...]) -> bytes:
    """A devkit meta.mat: the leaves (ids 1..K, in sorted WordNet-id order as ILSVRC numbers
    them) and one inner synset (id K+1, with children), which labels nothing."""
    from scipy.io import savemat

    fields = [("ILSVRC2012_ID", "O"), ("WNID", "O"), ("words", "O"), ("num_children", "O")]
    rows = [(i + 1, wnid, f"class {wnid}", 0) for i, wnid in enumerate(sorted(wnids))]
    rows.append((len(wnids) + 1, "n00001740", "entity", len(wnids)))
    synsets = np.array(rows, dtype=fields)
    buffer = io.BytesIO()
    savemat(buffer, {"synsets": synsets})
    return buffer.getvalue()


def fixture(root: Path) -> KindFixture:
    """ILSVRC2012_img_val.tar (flat, in file-name order) with the devkit, and the same images as a
    folder of class subfolders (``options``: the tar and the devkit)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    wnids = sorted(FIXTURE_WNIDS)
    images = [
        (f"ILSVRC2012_val_{number:08d}.JPEG", wnids[(number * 7) % len(wnids)], jpeg(number))
        for number in range(1, FIXTURE_PER_CLASS * len(wnids) + 1)
    ]
    (root / "ILSVRC2012_img_val.tar").write_bytes(tar_bytes([(name, data) for name, _, data in images]))
    ids = {wnid: i + 1 for i, wnid in enumerate(wnids)}
    ground_truth = "".join(f"{ids[wnid]}\n" for _, wnid, _ in images).encode()
    tar_gz(root / "ILSVRC2012_devkit_t12.tar.gz", {GROUND_TRUTH: ground_truth, META: _meta_mat(FIXTURE_WNIDS)})
    for name, wnid, data in images:
        (root / "val" / wnid).mkdir(parents=True, exist_ok=True)
        (root / "val" / wnid / name).write_bytes(data)
    counts = {"test": (len(images), len(wnids))}
    return KindFixture(
        sources={},
        options={
            "counts": counts,
            "imagenet": {
                "val": str(root / "ILSVRC2012_img_val.tar"),
                "devkit": str(root / "ILSVRC2012_devkit_t12.tar.gz"),
            },
        },
        hierarchy=Hierarchy.from_paths([["root", f"group{i % 2}", wnid] for i, wnid in enumerate(FIXTURE_WNIDS)]),
        counts=counts,
    )


KIND = DatasetKind(
    name="imagenet1k",
    prepare=prepare_job,
    fixture=fixture,
    user_inputs=user_inputs,
    unavailable=unavailable,
    split_sizes=published_sizes(EXPECTED),
    splits=("test",),
    options={
        "counts": expected_counts(EXPECTED),
        "imagenet": Option(
            dict,
            {"val": None, "devkit": None},
            "your ILSVRC-2012 validation images (ImageNet needs a login): checked when the workflow is built",
            fields={
                "val": Option(str, None, "ILSVRC2012_img_val.tar or its extracted folder", nullable=True),
                "devkit": Option(
                    str,
                    None,
                    "ILSVRC2012_devkit_t12.tar.gz, whose ground truth names each image's class "
                    "(null: the class subfolders of the val folder)",
                    nullable=True,
                ),
            },
        ),
    },
    threads=8,
    mem_mb=4_000,
    runtime_min=120,
    disk_mb=7_000,
)
