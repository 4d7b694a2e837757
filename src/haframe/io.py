"""File I/O shared by every stage: atomic writes, the one download helper, the one
restricted unpickler (and, for archives, the one extraction function)."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import lzma
import os
import pickle
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import yaml


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
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
    h = hashlib.sha256()
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
    attempts: int = 3,
    log: Callable[[str], None] = lambda message: None,
) -> Path:
    """Fetch ``source`` (http(s) URL, file:// URL or local path) to ``dest``, verified.

    Bytes go to ``dest.part`` and are renamed onto ``dest`` only after the sha256 matches, so
    ``dest`` never holds a partial or wrong file. An interrupted transfer is resumed (HTTP
    Range) up to ``attempts`` times; a killed process leaves ``dest.part`` to resume from next
    time. A checksum mismatch, or a transfer still short after every attempt, deletes the
    partial file and raises DownloadError naming the file, the expected and the found value.
    """
    dest = Path(dest)
    if dest.is_file() and (sha256 is None or sha256_of(dest) == sha256):
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
    except BaseException as error:
        if not isinstance(error, KeyboardInterrupt):
            part.unlink(missing_ok=True)
        raise
    os.replace(part, dest)
    log(f"{dest.name}: {size} bytes, sha256 {found}")
    return dest


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
