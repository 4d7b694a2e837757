"""File I/O shared by every stage: atomic writes, the one download helper, the one
restricted unpickler (and, for archives, the one extraction function)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import http.client
import json
import lzma
import os
import pickle
import shutil
import stat
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import yaml


def current_umask() -> int:
    """The process's umask (read from /proc on Linux; elsewhere set and restored at once)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success. The file
    gets the mode a plain ``open`` would give it (0666 less the umask), not mkstemp's 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, 0o666 & ~current_umask())
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


def write_yaml(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, yaml.safe_dump(obj, sort_keys=False))


def read_yaml(path: str | os.PathLike) -> Any:
    return yaml.safe_load(Path(path).read_text())


def save_npz(path: str | os.PathLike, **arrays: Any) -> None:
    import numpy as np

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


def load_npz(path: str | os.PathLike) -> dict:
    import numpy as np

    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def sha256_of(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    return _digest(path, hashlib.sha256(), chunk)


def check_sha256_prefix(path: str | os.PathLike, prefix: str) -> str:
    """Return the file's sha256; raise ValueError unless it starts with ``prefix`` (hex), as
    in torchvision's weight file names."""
    prefix = str(prefix).lower()
    if not prefix or any(c not in "0123456789abcdef" for c in prefix):
        raise ValueError(f"sha256 prefix must be hexadecimal digits, got {prefix!r}")
    digest = sha256_of(path)
    if not digest.startswith(prefix):
        raise ValueError(f"{path}: sha256 {digest[:len(prefix)]}... does not match the expected prefix {prefix} (corrupt or wrong file)")
    return digest


def md5_of(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    return _digest(path, hashlib.md5(usedforsecurity=False), chunk)


def _digest(path: str | os.PathLike, h: Any, chunk: int) -> str:
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------- pickles


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle referenced a global that its reader does not admit."""


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, allowed: Mapping[tuple[str, str], Any], source: str, **kwargs):
        super().__init__(file, **kwargs)
        self._allowed = allowed
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        # Called for every GLOBAL/STACK_GLOBAL before anything is constructed or called:
        # refusing here means no code named by the pickle ever runs.
        if (module, name) in self._allowed:
            return self._allowed[(module, name)]
        raise UnsafePickleError(
            f"{self._source}: refusing to load global {module}.{name}; "
            f"this reader admits only {sorted(f'{m}.{n}' for m, n in self._allowed) or 'no globals'}"
        )


def safe_unpickle(path: str | os.PathLike, allowed: Mapping[tuple[str, str], Any] | None = None, **kwargs) -> Any:
    """Load a pickle that may only reference the globals in ``allowed``.

    ``allowed`` maps (module, name) as written in the pickle to the object to use for it.
    ``.xz`` files are decompressed. The project's one way to read a pickle it did not write.
    """
    path = Path(path)
    opener = lzma.open if path.suffix == ".xz" else open
    with opener(path, "rb") as handle:
        return _RestrictedUnpickler(handle, allowed or {}, str(path), **kwargs).load()


# --------------------------------------------------------------------------- downloads


class DownloadError(RuntimeError):
    pass


def _open_source(source: str, offset: int) -> tuple[Any, int | None, bool]:
    """(stream, total size or None, whether the stream starts at ``offset``)."""
    parsed = urllib.parse.urlparse(source)
    if parsed.scheme in ("http", "https"):
        request = urllib.request.Request(source, headers={"User-Agent": "haframe-pipeline"})
        if offset:
            request.add_header("Range", f"bytes={offset}-")
        response = urllib.request.urlopen(request, timeout=60)
        length = response.headers.get("Content-Length")
        resumed = response.status == 206
        total = (int(length) + (offset if resumed else 0)) if length is not None else None
        return response, total, resumed
    path = Path(urllib.request.url2pathname(parsed.path)) if parsed.scheme == "file" else Path(source)
    if not path.is_file():
        raise DownloadError(f"source not found: {source}")
    handle = open(path, "rb")
    handle.seek(offset)
    return handle, path.stat().st_size, True


def download(
    source: str,
    dest: str | os.PathLike,
    sha256: str | None = None,
    *,
    md5: str | None = None,
    lock_file: str | os.PathLike | None = None,
    attempts: int = 3,
    log: Callable[[str], None] = lambda message: None,
) -> Path:
    """Fetch ``source`` (http(s) URL, file:// URL or local path) to ``dest``, verified.

    Bytes go to ``dest.part`` and are renamed onto ``dest`` only after the checksums match, so
    ``dest`` never holds a partial or wrong file. An interrupted transfer is resumed (HTTP
    Range) up to ``attempts`` times; a killed process leaves ``dest.part`` to resume from next
    time. A checksum mismatch, or a transfer still short after every attempt, deletes the
    partial file and raises DownloadError naming the file, the expected and the found value.
    Where no sha256 is published, ``lock_file`` records the first download's sha256 (keyed by
    the file name) and enforces it on every later download (trust on first use).
    """
    dest = Path(dest)
    if sha256 is None and lock_file is not None:
        sha256 = read_lock(lock_file).get(dest.name)
    if dest.is_file() and (sha256 is None or sha256_of(dest) == sha256) and (md5 is None or md5_of(dest) == md5):
        log(f"{dest.name}: present and verified")
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    total = None
    try:
        for attempt in range(1, attempts + 1):
            offset = part.stat().st_size if part.exists() else 0
            try:
                total = _fetch(source, part, offset, log)
            except (OSError, http.client.HTTPException) as error:
                if isinstance(error, urllib.error.HTTPError) and error.code != 416:
                    raise DownloadError(f"{dest.name}: {source} answered HTTP {error.code}") from error
                log(f"{dest.name}: attempt {attempt} interrupted ({error}); resuming")
                continue
            if total is None or part.stat().st_size >= total:
                break
            log(f"{dest.name}: attempt {attempt} stopped at {part.stat().st_size} of {total} bytes; resuming")
        size = part.stat().st_size if part.exists() else 0
        if total is not None and size != total:
            raise DownloadError(f"{dest.name}: truncated download from {source}: expected {total} bytes, found {size}")
        found = sha256_of(part)
        if sha256 is not None and found != sha256:
            raise DownloadError(f"{dest.name}: sha256 mismatch for {source}: expected {sha256}, found {found}")
        if md5 is not None and (found_md5 := md5_of(part)) != md5:
            raise DownloadError(f"{dest.name}: md5 mismatch for {source}: expected {md5}, found {found_md5}")
    except BaseException as error:
        if not isinstance(error, KeyboardInterrupt):
            part.unlink(missing_ok=True)
        raise
    os.replace(part, dest)
    log(f"{dest.name}: {size} bytes, sha256 {found}")
    if lock_file is not None and sha256 is None:
        record_lock(lock_file, dest.name, found)
        log(f"{dest.name}: no published sha256; recorded {found} in {lock_file}")
    return dest


def read_lock(lock_file: str | os.PathLike) -> dict[str, str]:
    path = Path(lock_file)
    return dict(read_yaml(path) or {}) if path.is_file() else {}


def record_lock(lock_file: str | os.PathLike, name: str, sha256: str) -> None:
    """Add ``name: sha256`` to the lock file (exclusive lock, atomic rewrite)."""
    path = Path(lock_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        entries = read_lock(path)
        if entries.get(name, sha256) != sha256:
            raise DownloadError(f"{path}: {name} is locked to sha256 {entries[name]}, not {sha256}")
        entries[name] = sha256
        header = "# sha256 of downloads with no published checksum, recorded at first download\n"
        write_text(path, header + yaml.safe_dump(entries, sort_keys=True))


def _fetch(source: str, part: Path, offset: int, log: Callable[[str], None]) -> int | None:
    stream, total, resumed = _open_source(source, offset)
    with stream, open(part, "ab" if resumed else "wb") as out:
        done, last_report = (offset if resumed else 0), time.monotonic()
        while chunk := stream.read(1 << 20):
            out.write(chunk)
            done += len(chunk)
            if time.monotonic() - last_report > 10:
                last_report = time.monotonic()
                log(f"{part.name[:-5]}: {done / 2**20:.0f} MiB" + (f" of {total / 2**20:.0f} MiB" if total else ""))
    return total


# --------------------------------------------------------------------------- archives


class UnsafeArchiveError(RuntimeError):
    """An archive member would escape the target folder or is not a plain file or folder."""


def _check_member_name(archive: Path, name: str) -> None:
    parts = Path(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
        raise UnsafeArchiveError(f"{archive}: member {name!r} would be written outside the target folder")


def _tar_members(archive: Path, tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    members = tar.getmembers()
    for member in members:
        _check_member_name(archive, member.name)
        if not (member.isfile() or member.isdir()):
            kind = "symlink" if member.issym() else "hardlink" if member.islnk() else "device or special file"
            raise UnsafeArchiveError(f"{archive}: member {member.name!r} is a {kind}; only files and folders are extracted")
    return members


def _zip_members(archive: Path, zf: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    members = zf.infolist()
    for member in members:
        _check_member_name(archive, member.filename)
        mode = member.external_attr >> 16
        if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise UnsafeArchiveError(f"{archive}: member {member.filename!r} is a symlink or special file")
    return members


def safe_extract(archive: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Extract a tar (any compression) or zip archive into the folder ``dest``.

    Every member is checked before anything is written: absolute paths, ``..``, symlinks,
    hardlinks and device files refuse the whole archive. Extraction goes to a temporary
    sibling folder that is renamed onto ``dest`` only when complete, so ``dest`` is never
    half-extracted. The project's one extraction function.
    """
    archive, dest = Path(archive), Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".extracting", dir=dest.parent))
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(tmp, members=_zip_members(archive, zf))
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tar:
                tar.extractall(tmp, members=_tar_members(archive, tar), filter="data")
        else:
            raise UnsafeArchiveError(f"{archive}: neither a tar nor a zip archive")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return dest
