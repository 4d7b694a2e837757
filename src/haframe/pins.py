"""The download lock file from the command line: list its pins, or re-pin a source.

    .venv/bin/python -m haframe.pins list [--lock data/downloads.lock.yaml]
    .venv/bin/python -m haframe.pins repin <dataset> <source> [--lock data/downloads.lock.yaml]

A download that no longer matches its pin fails with ``ChecksumMismatch``, keeps the file it
got as ``<file>.rejected`` and prints the ``repin`` command for it. Once you have checked that
file, ``repin`` drops the old pin and puts the file back as a complete partial download of its
URL: the next workflow run validates it (extraction and preparation, parsing, the weights
check) and only then pins it, without downloading it again (``haframe.io.repin``).
"""

from __future__ import annotations

import argparse
import sys

from .io import DownloadError, read_lock, repin

DEFAULT_LOCK = "data/downloads.lock.yaml"  # <data_root>/downloads.lock.yaml with the default data_root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m haframe.pins", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="every pin: dataset, source, sha256, size, how it was validated")
    again = commands.add_parser("repin", help="drop a pin; the next run validates and pins the file it has")
    again.add_argument("dataset", help="the dataset's name in the study config, or 'weights'")
    again.add_argument("source", help="the source's key: a kind's source (archive, splits, ...), 'hierarchy', or the weights' name")
    for command in (listing, again):
        command.add_argument("--lock", default=DEFAULT_LOCK, help=f"the lock file (default {DEFAULT_LOCK})")
    args = parser.parse_args(argv)
    try:
        if args.command == "repin":
            print(repin(args.lock, args.dataset, args.source))
        else:
            for dataset, sources in sorted(read_lock(args.lock).items()):
                for source, entry in sorted(sources.items()):
                    rejected = entry.get("rejected")
                    print(f"{dataset} {source}: {entry['file']}, sha256 {entry['sha256']}, {entry['size']} bytes, "
                          f"pinned {entry['pinned']} ({entry['validated']})"
                          + (f"; last download rejected: {rejected['file']} (sha256 {rejected['sha256']})" if rejected else ""))
    except DownloadError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
