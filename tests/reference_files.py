"""The real reference files (published hierarchies, distance tables, split lists) for tests.

``reference_file("hierarchies/cifar100/tree.pkl")`` returns, in this order:

1. ``<SHARED>/reference/<relative>`` where it exists. ``SHARED`` is ``../shared`` beside the
   clone (CI has it), or ``$HAFRAME_SHARED`` (see tests/conftest.py): set it to a folder that
   does not exist to see what a fresh clone sees.
2. The file in the cache ``$HAFRAME_TEST_CACHE`` (default ``~/.cache/haframe/reference``),
   fetched there first, once, from its pinned upstream URL in ``PINNED`` with the project's
   download helper ``haframe.downloads.download`` and verified (sha256; split lists also by their
   content digest). The cache mirrors the URLs: ``<cache>/<owner>/<repo>/<commit>/<path>``.
   A file that arrives with the wrong digest is an error, and nothing of it stays cached.
3. Otherwise (offline, no ../shared) ``pytest.skip`` with one line naming the file and how to
   get it; the line has the same form for every file, so ``pytest -rs`` shows one per file.

``$HAFRAME_REFERENCE_BASE_URL`` (or ``base_url=``) replaces ``https://raw.githubusercontent.com``
in every pinned URL: a mirror laid out ``<owner>/<repo>/<commit>/<path>`` (such as a cache).
"""

from __future__ import annotations

import http.client
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlparse

import pytest
from conftest import SHARED

from haframe.archives import safe_extract
from haframe.data.split_lists import verified_split_lists
from haframe.downloads import ChecksumMismatch, DownloadError, download

RAW = "https://raw.githubusercontent.com"
HAFRAME = f"{RAW}/ltong1130ztr/HAFrame/abe73b43dd0122a727ca87029e325ba854b18c16"
MBM = f"{RAW}/fiveai/making-better-mistakes/f0bb7d0a7c4a9c7c9517045a4be4446e9baf824f"


class Pinned(NamedTuple):
    url: str
    sha256: str | None  # None: upstream publishes none; lists_digest verifies the content
    lists_digest: str | None = None  # split lists: their content_digest, checked on every use of the cache


# relative path under reference/ -> upstream file (as in ../shared/reference/README.md)
PINNED: dict[str, Pinned] = {
    "hierarchies/cifar100/tree.pkl": Pinned(
        f"{HAFRAME}/data/cifar-l5/original/cifar_100_tree.pkl",
        "15344a9c81854b3dd118424702a7f0da12ae8edf7c9c9650babc13393ed47f0c",
    ),
    "hierarchies/cifar100/distances.pkl.xz": Pinned(
        f"{HAFRAME}/data/cifar-l5/original/cifar_100_ilsvrc_distances.pkl.xz",
        "6ecd786177adb956a678711fb10bec12aa3881b8e97dc7723a79c4ecced6bb55",
    ),
    "hierarchies/fgvc_aircraft/tree.pkl": Pinned(
        f"{HAFRAME}/data/fgvc_aircraft_tree.pkl", "6c8203d210c0362f9e604cc37f654e68cfdb4a1ad91a52de60f06bc39ffa034c"
    ),
    "hierarchies/fgvc_aircraft/distances.pkl.xz": Pinned(
        f"{HAFRAME}/data/fgvc_aircraft_original_distances.pkl.xz",
        "627ba83b90c1cf52cbb0e4521cf07b2a01976db28ecd4ca73590fe8c4fd8f3e7",
    ),
    "hierarchies/inat19/tree.pkl": Pinned(
        f"{MBM}/data/inaturalist19_tree.pkl", "edd91e7dc3570ae922c60ed0749f809344b6991c1348d2a4490fee4d6f480cac"
    ),
    "hierarchies/inat19/distances.pkl.xz": Pinned(
        f"{MBM}/data/inaturalist19_ilsvrc_distances.pkl.xz",
        "9f7826a3bed5eace8bd100f3e0bc7f6d07627e15cddb983a7bb77041242bf07b",
    ),
    "hierarchies/inat19/isa.txt": Pinned(
        f"{MBM}/data/inaturalist19_isa.txt", "a59981c759186c0d77687539f7d6acc0e85f549e2060c31b477d0326771e15b3"
    ),
    "hierarchies/tiered_imagenet/tree.pkl": Pinned(
        f"{MBM}/data/tiered_imagenet_tree.pkl", "4b05daaa10ac12e3dee5194363948c406cfff84cdd8344ab4e24e6752542dd9e"
    ),
    "hierarchies/tiered_imagenet/distances.pkl.xz": Pinned(
        f"{MBM}/data/tiered_imagenet_ilsvrc_distances.pkl.xz",
        "2a81fbf81ad3757bde1bbe1791e02daf64bda4f0132798c786855690c2a81a06",
    ),
    "hierarchies/tiered_imagenet/isa.txt": Pinned(
        f"{MBM}/data/tiered_imagenet_isa.txt", "db79a24707a00437abd809f9f845b19557321a21525aed486788907b20b5511f"
    ),
    "splits/splits_tiered.zip": Pinned(
        f"{MBM}/dataset_splits/splits_tiered.zip",
        "826a0ae5796983cf75f41277a48e5e07b34b2b7fca8347d0def117ff83a5a5de",
        "a86f7a7b97a8d3b0ec0d9e6be4e7709d2b8cfa41ba52544ce9b1c38deb278728",
    ),
    # ../shared's copy repacks Hierarchical-Ensembles' folder of per-class lists; where it is
    # absent, fetch the lists the way the pipeline does (haframe.data.kinds.inat19): the pinned
    # making-better-mistakes zip, whose sha256 is unpublished, verified by its content digest.
    "splits/inat19_split_lists.tar.xz": Pinned(
        f"{MBM}/dataset_splits/splits_inat19.zip",
        None,
        "ebe34529700e4018f8b3c2f71a2b1a5ff46cb4d9dcace73591f7632d83b35fcf",
    ),
}

_unreachable: set[str] = set()  # URLs that failed this session: skip at once, not 3 attempts again


def cache_dir() -> Path:
    return Path(os.environ.get("HAFRAME_TEST_CACHE") or Path.home() / ".cache" / "haframe" / "reference").expanduser()


def reference_file(
    relative: str,
    *,
    shared: str | os.PathLike | None = None,
    cache: str | os.PathLike | None = None,
    base_url: str | None = None,
    pinned: Mapping[str, Pinned] = PINNED,
) -> Path:
    """The reference file ``relative`` (a key of ``pinned``): from ../shared, else from the
    cache, fetched and verified first; skips the test where neither is possible. ``shared``,
    ``cache`` and ``base_url`` default to conftest.SHARED, $HAFRAME_TEST_CACHE and
    $HAFRAME_REFERENCE_BASE_URL."""
    local = Path(SHARED if shared is None else shared) / "reference" / relative
    if local.is_file():
        return local
    entry = pinned[relative]
    cache = cache_dir() if cache is None else Path(cache)
    dest = cache / urlparse(entry.url).path.lstrip("/")
    base = (base_url or os.environ.get("HAFRAME_REFERENCE_BASE_URL") or RAW).rstrip("/")
    url = base + entry.url[len(RAW) :] if entry.url.startswith(RAW + "/") else entry.url
    if url not in _unreachable:
        try:
            download(url, dest, entry.sha256, attempts=1)  # present and verified: no request; offline: one try
        except (OSError, http.client.HTTPException, DownloadError) as error:
            if isinstance(error, ChecksumMismatch):
                raise  # reached, but not the pinned file: an error, never a skip
            _unreachable.add(url)
        else:
            if entry.lists_digest is not None:
                _check_lists(dest, entry.lists_digest)
            return dest
    host = urlparse(url).netloc or url
    pytest.skip(
        f"reference file {relative} missing: put ../shared beside the clone (or set HAFRAME_SHARED), "
        f"or allow network access to {host} to fetch it into {cache}"
    )


def _check_lists(archive: Path, digest: str) -> None:
    """Extract the split-list archive and check its content digest; a wrong one is removed."""
    with tempfile.TemporaryDirectory(prefix="haframe-lists-") as tmp:
        try:
            verified_split_lists(safe_extract(archive, Path(tmp) / "lists"), digest)
        except Exception:
            archive.unlink(missing_ok=True)
            raise
