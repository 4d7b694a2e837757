"""Archives: the one extraction function, for tar (any compression) and zip archives."""

from __future__ import annotations

import gzip
import lzma
import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path

from .fileio import current_umask

# An archive may expand to at most this many times its own size plus a floor: real data
# archives (JPEGs, compressed arrays, text lists) stay far below it, a decompression bomb (306 KB
# expanding to 300 MB) does not.
EXPANSION_RATIO = 100
EXPANSION_FLOOR = 64 * 2**20


class ArchiveError(RuntimeError):
    """Not a complete tar or zip archive (truncated, damaged, or another kind of file)."""


class UnsafeArchiveError(ArchiveError):
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
            raise UnsafeArchiveError(
                f"{archive}: member {member.name!r} is a {kind}; only files and folders are extracted"
            )
    return members


def _zip_members(archive: Path, zf: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    members = zf.infolist()
    for member in members:
        _check_member_name(archive, member.filename)
        mode = member.external_attr >> 16
        if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise UnsafeArchiveError(f"{archive}: member {member.filename!r} is a symlink or special file")
    return members


def _check_expansion(archive: Path, size: int) -> None:
    """Refuse an archive whose members add up to more than it may expand to (before writing)."""
    limit = EXPANSION_RATIO * archive.stat().st_size + EXPANSION_FLOOR
    if size > limit:
        raise UnsafeArchiveError(
            f"{archive}: its members add up to {size:,} bytes, more than {EXPANSION_RATIO} times its "
            f"{archive.stat().st_size:,} bytes plus {EXPANSION_FLOOR // 2**20} MiB ({limit:,}): a decompression bomb?"
        )


def safe_extract(archive: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Extract a tar (any compression) or zip archive into the folder ``dest``.

    Every member is checked before anything is written: absolute paths, ``..``, symlinks,
    hardlinks and device files refuse the whole archive. Extraction goes to a temporary
    sibling folder that is renamed onto ``dest`` only when complete, so ``dest`` is never
    half-extracted. Complete means every member and the whole compressed stream: zip members'
    CRCs, and a tar's stream read to its end (the gzip/bz2/xz trailer and its checksum), so a
    truncated or damaged archive raises ArchiveError. Members adding up to more than
    ``EXPANSION_RATIO`` times the archive (plus ``EXPANSION_FLOOR``) refuse it; the folder gets
    the umask's mode. The project's one extraction function.
    """
    archive, dest = Path(archive), Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".extracting", dir=dest.parent))
    try:
        try:
            if zipfile.is_zipfile(archive):
                with zipfile.ZipFile(archive) as zf:
                    members = _zip_members(archive, zf)
                    _check_expansion(archive, sum(member.file_size for member in members))
                    zf.extractall(tmp, members=members)  # checks each member's CRC
            elif tarfile.is_tarfile(archive):
                with tarfile.open(archive) as tar:
                    members = _tar_members(archive, tar)
                    _check_expansion(archive, sum(member.size for member in members))
                    tar.extractall(tmp, members=members, filter="data")
                    while tar.fileobj.read(1 << 20):  # to the end: the compressed stream's trailer
                        pass
            else:
                raise ArchiveError(f"{archive}: neither a tar nor a zip archive (or one truncated before its index)")
        except (EOFError, tarfile.TarError, zipfile.BadZipFile, zlib.error, lzma.LZMAError, gzip.BadGzipFile) as error:
            raise ArchiveError(f"{archive}: not a complete archive ({type(error).__name__}: {error})") from error
        except OSError as error:  # a decompressor's "invalid data" (no errno), not a full disk
            if error.errno is not None:
                raise
            raise ArchiveError(f"{archive}: not a complete archive ({type(error).__name__}: {error})") from error
        os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp's 0700 would hide the data from the group
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return dest
