"""tieredImageNet-H (K=608) prepared from the user's own ImageNet ILSVRC-2012 copy.

ImageNet needs a login, so the pipeline cannot download it: the user gives
``ILSVRC2012_img_train.tar`` (a tar of per-class tars ``n########.tar``) and
``ILSVRC2012_img_val.tar`` (flat ``ILSVRC2012_val_########.JPEG``), or extracted folders
(train: ``<wnid>/<file>.JPEG``; val: the val files, flat or in per-class folders).
``check_imagenet`` says exactly that, cheaply, when the workflow is built.

The split lists (``splits_tieredImageNet-H/<split>/<wnid>.txt``: train lists ILSVRC train
file names, val and test list ILSVRC val file names; 425,600 / 15,200 / 15,200) name each
image's class, so no devkit mapping is needed. The big tars are never extracted: members are
streamed (``r|``), only regular files whose base name is listed are read, and nothing but
the converted images is written, at paths built from the lists. A link, device or member
whose name leaves the archive refuses the archive (UnsafeArchiveError).

Not the few-shot "tieredImageNet" of Ren et al. (2018).
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import tarfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path, PurePosixPath

from ...archives import UnsafeArchiveError
from ...hierarchy import Hierarchy
from ...options import Option
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
from .fixtures import ListedFixture, jpeg, listed_counts, listed_names, tar_bytes, write_list_files
from .inat19 import MBM

EXPECTED = {"train": (425600, 608), "val": (15200, 608), "test": (15200, 608)}
SPLITS_DIGEST = "a86f7a7b97a8d3b0ec0d9e6be4e7709d2b8cfa41ba52544ce9b1c38deb278728"
DATASET = "tieredImageNet-H"
CONFIG_NAME = "tiered_imagenet"  # the dataset's name under `datasets` in config/config.yaml

_WNID = re.compile(r"n\d{8}")
_CLASS_TAR = re.compile(r"n\d{8}\.tar")
_VAL_FILE = re.compile(r"ILSVRC2012_val_\d{8}\.JPEG")


# --------------------------------------------------------------------------- checks


def guidance(name: str = CONFIG_NAME) -> str:
    return (
        f"tieredImageNet-H is built from the ImageNet ILSVRC-2012 images, which the pipeline cannot "
        f"download for you: ImageNet needs a login at https://image-net.org/download-images. "
        f"Download ILSVRC2012_img_train.tar (training images, ~138 GB) and ILSVRC2012_img_val.tar "
        f"(validation images, ~6.3 GB), then set datasets.{name}.imagenet.train and "
        f"datasets.{name}.imagenet.val in your config to those tar files, or to their extracted folders "
        f"(train: <wnid>/<file>.JPEG folders; val: the ILSVRC2012_val_*.JPEG files, flat or in per-class folders). "
        f"The other datasets run without it: remove {name} from `datasets` in the config "
        f"(or run with a --configfile that omits it). "
        f'(This is tieredImageNet-H of "Making Better Mistakes", not the few-shot "tieredImageNet" of Ren et al.)'
    )


def _first_file_member(path: Path) -> tarfile.TarInfo | None:
    """The first member that is not a folder (reads only the archive's first headers)."""
    with tarfile.open(path, "r|*") as tar:
        for member in tar:
            if not member.isdir():
                return member
    return None


def _problem(role: str, path: Path | None, name: str) -> str | None:
    """What is wrong with the configured ILSVRC-2012 ``role`` ('train' or 'val'), or None."""
    key = f"datasets.{name}.imagenet.{role}"
    archive = "ILSVRC2012_img_train.tar" if role == "train" else "ILSVRC2012_img_val.tar"
    looks = "a per-class tar like n01440764.tar" if role == "train" else "a file like ILSVRC2012_val_00000001.JPEG"
    if path is None or str(path) == "":
        return f"{key} is not set (the {archive} file or its extracted folder)"
    path = Path(path).expanduser()
    if not path.exists():
        return f"{key} = {path} does not exist"
    if path.is_file():
        try:
            member = _first_file_member(path)
        except (tarfile.TarError, OSError, EOFError, ValueError) as error:
            return f"{key} = {path} is not a tar archive ({error}); expected {archive}"
        if member is None:
            return f"{key} = {path} is an empty tar archive; expected {archive}"
        base = PurePosixPath(member.name).name
        pattern = _CLASS_TAR if role == "train" else _VAL_FILE
        if not (member.isreg() and pattern.fullmatch(base)):
            return f"{key} = {path}: its first member is {member.name!r}, not {looks}; is this {archive}?"
        return None
    if path.is_dir():
        if role == "train":
            if _any_entry(path, lambda e: _WNID.fullmatch(e.name) is not None and e.is_dir()):
                return None
            hint = ""
            if _any_entry(path, lambda e: _CLASS_TAR.fullmatch(e.name) is not None and e.is_file()):
                hint = (
                    " (it holds per-class tars n########.tar: extract each into a folder of its name,"
                    f" or give {archive} itself)"
                )
            return f"{key} = {path} holds no n######## class folders{hint}"
        if _any_entry(path, _is_val_file):
            return None
        for count, entry in enumerate(e for e in os.scandir(path) if _WNID.fullmatch(e.name) and e.is_dir()):
            if _any_entry(Path(entry.path), _is_val_file):
                return None
            if count >= 8:
                break
        return f"{key} = {path} holds no ILSVRC2012_val_########.JPEG files (flat or in n######## folders)"
    return f"{key} = {path} is neither a file nor a folder"


def _is_val_file(entry: os.DirEntry) -> bool:
    return _VAL_FILE.fullmatch(entry.name) is not None and entry.is_file()


def _any_entry(folder: Path, test: Callable[[os.DirEntry], bool]) -> bool:
    with os.scandir(folder) as entries:
        return any(test(entry) for entry in entries)


def check_imagenet(train: Path | None, val: Path | None, *, name: str = CONFIG_NAME) -> None:
    """Cheap checks that the user's ILSVRC-2012 train and val sources are set and look right.

    Runs when the workflow is built: reads only folder listings and a tar's first header.
    Raises DataError saying what is wrong and how to obtain and configure ImageNet.
    """
    problems = [p for p in (_problem("train", train, name), _problem("val", val, name)) if p]
    if problems:
        raise DataError(f"{DATASET}: " + "; ".join(problems) + ".\n" + guidance(name))


# --------------------------------------------------------------------------- reading


def checked_member(archive: str, member: tarfile.TarInfo) -> bool:
    """True for a regular file to consider, False for a folder; refuses everything else."""
    parts = PurePosixPath(member.name.replace("\\", "/")).parts
    if member.name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
        raise UnsafeArchiveError(f"{archive}: member {member.name!r} would lead outside the archive; refusing it")
    if member.isdir():
        return False
    if not member.isreg():
        kind = "symlink" if member.issym() else "hardlink" if member.islnk() else "device or special file"
        raise UnsafeArchiveError(
            f"{archive}: member {member.name!r} is a {kind}; only regular files are read; refusing it"
        )
    return True


def _tar_tasks(
    archive: str, tar: tarfile.TarFile, wanted: dict[str, Path], found: set[str], nested: bool
) -> Iterator[ImageTask]:
    """Stream ``tar``; yield its task for each listed regular file, found once.

    With ``nested``, members named ``n########.tar`` are opened from the stream as class tars.
    Each ``read`` must be called before the next item is requested (convert_images does).
    """
    for member in tar:
        if not checked_member(archive, member):
            continue
        base = PurePosixPath(member.name).name
        if nested and _CLASS_TAR.fullmatch(base):
            label = f"{archive}:{member.name}"
            try:
                with tarfile.open(fileobj=tar.extractfile(member), mode="r|*") as inner:
                    yield from _tar_tasks(label, inner, wanted, found, nested=False)
            except tarfile.TarError as error:
                raise DataError(f"{DATASET}: {label} is not a readable tar ({error})") from error
        elif base in wanted and base not in found:
            found.add(base)
            handle = tar.extractfile(member)
            yield ImageTask(handle.read, wanted[base], f"{archive}:{member.name}")


def _folder_files(root: Path, wanted: dict[str, Path]) -> dict[str, Path]:
    """{listed base name: file} from ``root`` and its direct subfolders (links followed: the
    folder is the user's own)."""
    files: dict[str, Path] = {}
    folders = [root]
    with os.scandir(root) as entries:
        for entry in entries:
            if entry.is_dir():
                folders.append(Path(entry.path))
            elif entry.name in wanted and entry.is_file():
                files.setdefault(entry.name, Path(entry.path))
    for folder in folders[1:]:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name in wanted and entry.name not in files and entry.is_file():
                    files[entry.name] = Path(entry.path)
    return files


def _missing_error(source: Path, wanted: dict[str, Path], found, where: dict[str, str]) -> DataError:
    missing = [f"{name} ({where[name]})" for name in wanted if name not in found]
    return DataError(f"{DATASET}: {len(missing)} listed images are missing from {source}: {shown(missing)}")


def _source_tasks(
    source: Path, wanted: dict[str, Path], where: dict[str, str], nested: bool, log
) -> Iterator[ImageTask]:
    """Tasks for one ILSVRC source; every listed file must be found. A folder is indexed now
    (so a missing file fails before any conversion), a tar is streamed when iterated."""
    source = Path(source).expanduser()
    if source.is_dir():
        files = _folder_files(source, wanted)
        if len(files) != len(wanted):
            raise _missing_error(source, wanted, files, where)
        return (ImageTask(files[name].read_bytes, dest, str(files[name])) for name, dest in wanted.items())
    return _streamed(source, wanted, where, nested, log)


def _streamed(source: Path, wanted: dict[str, Path], where: dict[str, str], nested: bool, log) -> Iterator[ImageTask]:
    found: set[str] = set()
    log(f"{DATASET}: streaming {source} for {len(wanted)} images")
    with tarfile.open(source, "r|*") as tar:
        yield from _tar_tasks(str(source), tar, wanted, found, nested)
    if len(found) != len(wanted):
        raise _missing_error(source, wanted, found, where)


def prepare(
    train_source: Path,
    val_source: Path,
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
    """Prepare tieredImageNet-H in the images layout under ``out_dir``; returns the meta dict.

    The train split is read from ``train_source``, val and test from ``val_source``. The lists
    are checked (digest, counts, classes) before any image is read; a listed image that a
    source lacks is a DataError naming it (for a tar, once the stream has been read).
    """
    check_imagenet(train_source, val_source)
    out_dir = Path(out_dir)
    lists = verified_split_lists(splits_root, splits_digest)
    rows = plan_rows(DATASET, lists, classes, expected)
    wanted = {"train": {}, "val": {}}
    where: dict[str, str] = {}
    for split in SPLITS:
        source = "train" if split == "train" else "val"
        for cls, _, name in rows[split]:
            wanted[source][name] = destination(out_dir, split, cls, name)
            where[name] = f"{split}/{cls}"

    (out_dir / "meta.json").unlink(missing_ok=True)  # not complete until written again
    total = sum(len(v) for v in rows.values())
    log(f"{DATASET}: converting {total} images to {size}x{size} under {out_dir / 'images'}")

    sources = [
        _source_tasks(Path(val_source), wanted["val"], where, False, log),
        _source_tasks(Path(train_source), wanted["train"], where, True, log),
    ]
    done = convert_images(itertools.chain(*sources), threads=threads, log=log, size=size)
    log(f"{DATASET}: {done} images prepared")
    return finish(out_dir, classes, rows, lists, recipe="imagenet", size=size)


def unavailable(options, name: str) -> str | None:
    """Why the dataset cannot be built yet: neither ImageNet source is set (one set and the
    other not is an error, raised by ``user_inputs``)."""
    imagenet = options.get("imagenet") or {}
    if imagenet.get("train") or imagenet.get("val"):
        return None
    return (
        f"the ImageNet ILSVRC-2012 files are not set (datasets.{name}.imagenet.train and .val; "
        f"ImageNet needs a login at https://image-net.org/download-images)"
    )


def user_inputs(options, name: str) -> dict[str, str]:
    """The user's ILSVRC-2012 sources, checked (cheaply) when the workflow is built."""
    imagenet = options.get("imagenet") or {}
    check_imagenet(imagenet.get("train"), imagenet.get("val"), name=name)
    return {"train": imagenet["train"], "val": imagenet["val"]}


def prepare_job(job: PrepareJob) -> dict:
    return prepare(
        job.inputs["train"],
        job.inputs["val"],
        job.inputs["splits"],
        job.out_dir,
        job.classes,
        expected=job.expected_counts(EXPECTED),
        splits_digest=job.options.get("splits_digest", SPLITS_DIGEST),
        threads=job.threads,
        log=job.log,
    )


# --------------------------------------------------------------------------- fixture

FIXTURE_WNIDS = ["n01443537", "n01440764", "n01484850"]  # hierarchy order, not sorted
FIXTURE_PER_SPLIT = {"train": 3, "val": 2, "test": 2}
HOSTILE = ("inner_dotdot", "inner_symlink", "outer_dotdot", "val_absolute")


def _symlink(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info


def fixture(root: Path, *, drop: str | None = None, hostile: str | None = None) -> ListedFixture:
    """ILSVRC2012_img_train.tar (a tar of per-class tars) and ILSVRC2012_img_val.tar (flat), the
    user's inputs (``options``), with unlisted images and a class no list names; the same as
    extracted folders (``files``: train_tar, val_tar, train_dir, val_dir); the
    splits_tieredImageNet-H lists (.zip).

    ``drop`` leaves one listed image out of every source; ``hostile`` (one of ``HOSTILE``) adds
    a bad member to the tars."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    classes = list(FIXTURE_WNIDS)
    listed: dict[str, list[tuple[str, str, int]]] = {split: [] for split in SPLITS}
    unlisted, number, val_number = [], 0, 1
    train_members: dict[str, list[tuple[str, bytes]]] = {}
    val_members: list[tuple[str, bytes, str]] = []  # (name, data, wnid)
    for wnid in classes:
        train_members[wnid] = []
        for k in range(FIXTURE_PER_SPLIT["train"] + 1):  # the last one is in no list
            name = f"{wnid}_{10026 + 7 * k}.JPEG"
            train_members[wnid].append((name, jpeg(number)))
            if k < FIXTURE_PER_SPLIT["train"]:
                listed["train"].append((wnid, name, number))
            else:
                unlisted.append(name)
            number += 1
        for split in ("val", "test"):
            for _ in range(FIXTURE_PER_SPLIT[split]):
                name = f"ILSVRC2012_val_{val_number:08d}.JPEG"
                val_members.append((name, jpeg(number), wnid))
                listed[split].append((wnid, name, number))
                number, val_number = number + 1, val_number + 3
    name = f"ILSVRC2012_val_{val_number:08d}.JPEG"  # in no list
    val_members.append((name, jpeg(number), "n09999999"))
    unlisted.append(name)
    train_members["n09999999"] = [("n09999999_1.JPEG", jpeg(number + 1))]  # a class no list names
    unlisted.append("n09999999_1.JPEG")
    val_members.sort()  # the real val tar is in file-name order

    if drop is not None:
        train_members = {w: [(n, d) for n, d in m if n != drop] for w, m in train_members.items()}
        val_members = [m for m in val_members if m[0] != drop]
    inner: dict[str, list] = {w: list(m) for w, m in train_members.items()}
    outer: list = []
    val_entries: list = [(n, d) for n, d, _ in val_members]
    evil = jpeg(99)
    if hostile == "inner_dotdot":
        inner[classes[1]].insert(1, ("../../evil.JPEG", evil))
    elif hostile == "inner_symlink":
        inner[classes[1]].insert(1, ("", _symlink(f"{classes[1]}_1.JPEG", "../../../evil.JPEG")))
    elif hostile == "outer_dotdot":
        outer.append(("../evil.tar", tar_bytes([("evil.JPEG", evil)])))
    elif hostile == "val_absolute":
        val_entries.insert(2, (str(root / "evil.JPEG"), evil))
    elif hostile is not None:
        raise ValueError(f"hostile must be one of {HOSTILE}, got {hostile!r}")
    outer[:0] = [(f"{w}.tar", tar_bytes(m)) for w, m in sorted(inner.items())]  # hostile ones last
    files = {
        "train_tar": root / "ILSVRC2012_img_train.tar",
        "val_tar": root / "ILSVRC2012_img_val.tar",
        "train_dir": root / "train",
        "val_dir": root / "val",
    }
    files["train_tar"].write_bytes(tar_bytes(outer))
    files["val_tar"].write_bytes(tar_bytes(val_entries))
    for wnid, members in train_members.items():  # train: <wnid>/<file>
        (files["train_dir"] / wnid).mkdir(parents=True)
        for name, data in members:
            (files["train_dir"] / wnid / name).write_bytes(data)
    for name, data, wnid in val_members:  # val: per-class folders
        (files["val_dir"] / wnid).mkdir(parents=True, exist_ok=True)
        (files["val_dir"] / wnid / name).write_bytes(data)

    # zipped from files on disk, as the published zip was (members carry S_IFREG / S_IFDIR modes)
    lists = listed_names(classes, listed)
    folder = root / "lists" / "splits_tieredImageNet-H"
    write_list_files(folder, lists)
    splits = root / "splits_tiered.zip"
    with zipfile.ZipFile(splits, "w") as zf:
        for path in sorted([folder, *folder.rglob("*")]):
            zf.write(path, path.relative_to(folder.parent).as_posix())
    shutil.rmtree(root / "lists")
    counts = listed_counts(classes, listed)
    imagenet = {"train": str(files["train_tar"]), "val": str(files["val_tar"])}
    return ListedFixture(
        sources={"splits": splits},
        options={"counts": counts, "splits_digest": content_digest(lists), "imagenet": imagenet},
        hierarchy=Hierarchy.from_paths([["root", f"group{i % 2}", wnid] for i, wnid in enumerate(classes)]),
        counts=counts,
        root=root,
        classes=classes,
        listed=listed,
        unlisted=unlisted,
        files=files,
    )


KIND = DatasetKind(
    name="tiered_imagenet",
    prepare=prepare_job,
    fixture=fixture,
    sources={
        "splits": Source(
            f"{MBM}/dataset_splits/splits_tiered.zip",
            "splits_tiered.zip",
            sha256="826a0ae5796983cf75f41277a48e5e07b34b2b7fca8347d0def117ff83a5a5de",
        ),
    },
    user_inputs=user_inputs,
    unavailable=unavailable,
    split_sizes=published_sizes(EXPECTED),
    options={
        "sources": source_overrides(),
        "counts": expected_counts(EXPECTED),
        "store": STORE,
        "splits_digest": splits_digest(SPLITS_DIGEST),
        "imagenet": Option(
            dict,
            {"train": None, "val": None},
            "your ILSVRC-2012 images (ImageNet needs a login): checked when the workflow is built",
            fields={
                "train": Option(str, None, "ILSVRC2012_img_train.tar or its extracted folder", nullable=True),
                "val": Option(str, None, "ILSVRC2012_img_val.tar or its extracted folder", nullable=True),
            },
        ),
    },
    threads=16,
    mem_mb=8_000,
    runtime_min=24 * 60,
    disk_mb=60_000,
)
