"""Files shared by every stage: atomic writes (text, JSON, YAML, npz), their reads, and file
digests."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
        raise ValueError(
            f"{path}: sha256 {digest[: len(prefix)]}... does not match the expected prefix {prefix} (corrupt or wrong "
            "file)"
        )
    return digest


def md5_of(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    return _digest(path, hashlib.md5(usedforsecurity=False), chunk)


def _digest(path: str | os.PathLike, h: Any, chunk: int) -> str:
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
