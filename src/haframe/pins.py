"""The download lock file from the command line: list its pins, or re-pin a source.

    .venv/bin/python -m haframe.pins list [--lock data/downloads.lock.yaml]
    .venv/bin/python -m haframe.pins repin <dataset> <source> [--url <url>] [--lock data/downloads.lock.yaml]

A download that no longer matches its pin fails with ``ChecksumMismatch``, keeps the file it
got as ``<file>.rejected`` and prints the ``repin`` command for it. Once you have checked that
file, ``repin`` drops the old pin and puts the file back as a complete partial download of its
URL: the next workflow run validates it (extraction and preparation, parsing, the weights
check) and only then pins it, without downloading it again (``repin()`` below).

The pinning itself is here too: the step that validates a download without a published
checksum pins it (``pin_validated``) or deletes it (``reject_unverified``). The lock file's
format, and the check of a download against its pin, are in ``haframe.downloads``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from .downloads import (
    ChecksumMismatch,
    DownloadError,
    LockKey,
    _now,
    _part,
    _part_meta,
    _unverified,
    _update_lock,
    pin_of,
    read_lock,
    repin_command,
)
from .fileio import read_yaml, sha256_of, write_text

DEFAULT_LOCK = "data/downloads.lock.yaml"  # <data_root>/downloads.lock.yaml with the default data_root


def pin_validated(
    path: str | os.PathLike, validated: str, log: Callable[[str], None] = lambda message: None
) -> dict | None:
    """Pin the unverified download ``path`` now that its content has been validated
    (``validated`` says how). Returns the new pin, or None when ``path`` has no unverified
    record (its checksum is published, or it is pinned already)."""
    path = Path(path)
    record = read_yaml(_unverified(path)) if _unverified(path).is_file() else None
    if record is None:
        return None
    if path.is_file() and path.stat().st_size != record["size"]:
        raise DownloadError(
            f"{path}: {path.stat().st_size} bytes, but {record['size']} were downloaded "
            f"({_unverified(path)}); it changed since: not pinned"
        )
    entry = {key: record[key] for key in ("file", "url", "size", "sha256")} | {"validated": validated, "pinned": _now()}
    pin = LockKey(record["lock_file"], record["dataset"], record["source"])

    def add(pins: dict) -> None:
        current = pin_of(pins, pin, entry["url"])
        if current is not None and current["sha256"] != entry["sha256"]:
            raise ChecksumMismatch(
                f"{path}: validated, but {pin.lock_file} pinned {pin.dataset} {pin.source} from {entry['url']} to "
                f"sha256 {current['sha256']} meanwhile; this file has sha256 {entry['sha256']}. If this one is "
                f"right: `{repin_command(pin, entry['url'])}`",
                url=entry["url"],
                expected=current["sha256"],
                found=entry["sha256"],
            )
        pins.setdefault(pin.dataset, {}).setdefault(pin.source, {})[entry["url"]] = entry

    _update_lock(pin.lock_file, add)
    _unverified(path).unlink()
    log(
        f"{path.name}: pinned as {pin.dataset} {pin.source} in {pin.lock_file}: sha256 {entry['sha256']}, "
        f"{entry['size']} bytes ({validated})"
    )
    return entry


def reject_unverified(path: str | os.PathLike, reason: str, log: Callable[[str], None] = lambda message: None) -> bool:
    """An unverified download failed its validation: delete it and its record, so that the next
    run downloads it again, and nothing is pinned. False (nothing deleted) when ``path`` is not an
    unverified download (its checksum is published, or it is pinned)."""
    path = Path(path)
    if not _unverified(path).is_file():
        return False
    path.unlink(missing_ok=True)
    _unverified(path).unlink()
    log(f"{path.name}: refused ({reason}); it was not pinned: deleted it, the next run downloads it again")
    return True


def repin(lock_file: str | os.PathLike, dataset: str, source: str, url: str | None = None) -> str:
    """Drop the pin of (``dataset``, ``source``) from ``url`` (None: its only one) so that the
    next run pins what it validates.

    The download that the pin rejected last (``dest.rejected``) is turned back into a complete
    ``.part`` of its URL: the next run neither downloads it again nor pins it before its content
    has been validated. Without one, the next run downloads the source afresh. Returns what it did.
    """
    path = Path(lock_file)
    if not path.is_file():
        raise DownloadError(
            f"{path}: no such lock file (pass the workflow's with --lock <data_root>/downloads.lock.yaml)"
        )

    def drop(pins: dict) -> str:
        urls = (pins.get(dataset) or {}).get(source) or {}
        if not urls or (url is not None and url not in urls):
            known = [f"{d} {s} {u}" for d in sorted(pins) for s in sorted(pins[d]) for u in sorted(pins[d][s])]
            raise DownloadError(
                f"{path}: nothing pinned as {dataset} {source}{f' from {url}' if url else ''}; pinned: "
                f"{', '.join(known) or 'nothing'}"
            )
        if url is None and len(urls) > 1:
            raise DownloadError(f"{path}: {dataset} {source} is pinned from {len(urls)} URLs: name one with --url")
        entry_url = url or next(iter(urls))
        entry = urls[entry_url]
        rejected = entry.get("rejected") or {}
        kept = Path(rejected["file"]) if rejected.get("file") else None
        old = f"sha256 {entry['sha256']} ({entry['size']} bytes)"
        if kept is None or not kept.is_file():
            del urls[entry_url]
            return (
                f"unpinned {dataset} {source} (was {old}); no rejected download is kept, so the next run "
                f"downloads it afresh, validates it and pins it"
            )
        size, found = kept.stat().st_size, sha256_of(kept)
        if (size, found) != (rejected["size"], rejected["sha256"]):
            raise DownloadError(
                f"{kept}: sha256 {found} ({size} bytes), not the rejected download's "
                f"{rejected['sha256']} ({rejected['size']} bytes): it changed since; nothing done"
            )
        dest = kept.with_name(kept.name.removesuffix(".rejected"))
        write_text(_part_meta(dest), json.dumps({"url": rejected["url"], "size": size}))
        os.replace(kept, _part(dest))
        del urls[entry_url]
        return (
            f"unpinned {dataset} {source} (was {old}); {dest.name} with sha256 {found} ({size} bytes) is "
            f"waiting as {_part(dest)}: the next run validates it and pins it"
            + (f". {dest} still exists: delete it, or the workflow keeps using it" if dest.exists() else "")
        )

    return _update_lock(path, drop)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m haframe.pins", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="every pin: dataset, source, sha256, size, how it was validated")
    again = commands.add_parser("repin", help="drop a pin; the next run validates and pins the file it has")
    again.add_argument("dataset", help="the dataset's name in the study config, or 'weights'")
    again.add_argument(
        "source", help="the source's key: a kind's source (archive, splits, ...), 'hierarchy', or the weights' name"
    )
    again.add_argument("--url", help="the source's location, where it is pinned from more than one")
    for command in (listing, again):
        command.add_argument("--lock", default=DEFAULT_LOCK, help=f"the lock file (default {DEFAULT_LOCK})")
    args = parser.parse_args(argv)
    try:
        if args.command == "repin":
            print(repin(args.lock, args.dataset, args.source, args.url))
        else:
            pins = read_lock(args.lock)
            for dataset, source, entry in (
                (d, s, pins[d][s][u]) for d in sorted(pins) for s in sorted(pins[d]) for u in sorted(pins[d][s])
            ):
                rejected = entry.get("rejected")
                print(
                    f"{dataset} {source}: {entry['url']}: {entry['file']}, sha256 {entry['sha256']}, "
                    f"{entry['size']} bytes, pinned {entry['pinned']} ({entry['validated']})"
                    + (
                        f"; last download rejected: {rejected['file']} (sha256 {rejected['sha256']})"
                        if rejected
                        else ""
                    )
                )
    except DownloadError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
