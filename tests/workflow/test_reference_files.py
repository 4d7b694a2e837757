"""tests/reference_files.py: ../shared first, else a verified download into the cache, else a skip.

The fetcher runs against a real http.server on 127.0.0.1 serving a tmp folder laid out as
raw.githubusercontent.com (``<owner>/<repo>/<commit>/<path>``), reached through the documented
base-URL override; the download helper itself is the project's, untouched.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import re
import socket
import threading
import zipfile
from pathlib import Path

import pytest
import reference_files
import yaml
from conftest import REPO, SHARED, direct_to_localhost
from reference_files import PINNED, RAW, Pinned, reference_file

from haframe.data.kinds import KINDS, inat19
from haframe.data.prepared import DataError
from haframe.data.split_lists import content_digest
from haframe.downloads import DownloadError
from haframe.fileio import sha256_of

DATA = bytes((i * 31 + (i >> 7)) % 256 for i in range(70_000))
DIGEST = hashlib.sha256(DATA).hexdigest()
UPSTREAM = f"{RAW}/owner/repo/0123abcd/data/file.bin"
LISTS = {
    "train": {"c1": ["a.jpg", "b.jpg"], "c2": ["c.jpg"]},
    "val": {"c1": ["d.jpg"], "c2": ["e.jpg"]},
    "test": {"c1": ["f.jpg"], "c2": ["g.jpg"]},
}


@pytest.fixture(autouse=True)
def _isolated(monkeypatch):
    direct_to_localhost(monkeypatch)
    reference_files._unreachable.clear()  # each test starts with no host known to be unreachable
    yield
    reference_files._unreachable.clear()


class Mirror:
    """http.server on 127.0.0.1 serving the folder ``root``; records the path of every GET."""

    def __init__(self, root: Path):
        self.root, self.requests = root, []
        requests = self.requests

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                requests.append(self.path)
                super().do_GET()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def put(self, url: str, data: bytes) -> None:
        """Serve ``data`` where the upstream ``url`` (on raw.githubusercontent.com) has it."""
        path = self.root / url[len(RAW) + 1 :]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def mirror(tmp_path):
    (tmp_path / "mirror").mkdir()
    server = Mirror(tmp_path / "mirror")
    yield server
    server.close()


def files_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def lists_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for split, classes in LISTS.items():
            for cls, names in classes.items():
                zf.writestr(f"lists/{split}/{cls}.txt", "".join(f"{name}\n" for name in names))
    return buffer.getvalue()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- fetch and cache


def test_fetched_once_into_the_cache_verified_and_reused(tmp_path, mirror):
    mirror.put(UPSTREAM, DATA)
    table = {"x/file.bin": Pinned(UPSTREAM, DIGEST)}
    cache = tmp_path / "cache"
    kwargs = dict(shared=tmp_path / "no-shared", cache=cache, base_url=mirror.base_url, pinned=table)
    path = reference_file("x/file.bin", **kwargs)
    assert path == cache / "owner/repo/0123abcd/data/file.bin"  # the cache mirrors the upstream URL
    assert path.read_bytes() == DATA and files_in(cache) == [path]
    assert mirror.requests == ["/owner/repo/0123abcd/data/file.bin"]
    assert reference_file("x/file.bin", **kwargs) == path
    assert len(mirror.requests) == 1  # reused, verified, not fetched again


def test_environment_variables_choose_cache_and_base_url(tmp_path, mirror, monkeypatch):
    mirror.put(UPSTREAM, DATA)
    monkeypatch.setenv("HAFRAME_TEST_CACHE", str(tmp_path / "env-cache"))
    monkeypatch.setenv("HAFRAME_REFERENCE_BASE_URL", mirror.base_url + "/")
    path = reference_file("x/file.bin", shared=tmp_path / "no-shared", pinned={"x/file.bin": Pinned(UPSTREAM, DIGEST)})
    assert path == tmp_path / "env-cache/owner/repo/0123abcd/data/file.bin" and path.read_bytes() == DATA
    assert len(mirror.requests) == 1


def test_the_shared_copy_comes_first_and_nothing_is_fetched(tmp_path, mirror):
    local = tmp_path / "shared" / "reference" / "x" / "file.bin"
    local.parent.mkdir(parents=True)
    local.write_bytes(b"the shared copy")
    table = {"x/file.bin": Pinned(UPSTREAM, DIGEST)}
    path = reference_file(
        "x/file.bin", shared=tmp_path / "shared", cache=tmp_path / "cache", base_url=mirror.base_url, pinned=table
    )
    assert path == local and mirror.requests == [] and not (tmp_path / "cache").exists()


def test_wrong_digest_is_refused_with_a_clear_error_and_nothing_cached(tmp_path, mirror):
    mirror.put(UPSTREAM, DATA)
    cache = tmp_path / "cache"
    table = {"x/file.bin": Pinned(UPSTREAM, "0" * 64)}
    with pytest.raises(DownloadError, match=rf"file\.bin: sha256 mismatch for .*expected {'0' * 64}, found {DIGEST}"):
        reference_file("x/file.bin", shared=tmp_path / "no-shared", cache=cache, base_url=mirror.base_url, pinned=table)
    assert files_in(cache) == []


def test_split_lists_without_a_published_sha256_are_verified_by_content(tmp_path, mirror):
    mirror.put(UPSTREAM, lists_zip())
    cache = tmp_path / "cache"
    kwargs = dict(shared=tmp_path / "no-shared", cache=cache, base_url=mirror.base_url)
    path = reference_file(
        "x/lists.zip", pinned={"x/lists.zip": Pinned(UPSTREAM, None, content_digest(LISTS))}, **kwargs
    )
    assert path.read_bytes() == lists_zip() and files_in(cache) == [path] and len(mirror.requests) == 1
    path.unlink()
    wrong = {"x/lists.zip": Pinned(UPSTREAM, None, "f" * 64)}
    with pytest.raises(DataError, match=rf"content digest is {content_digest(LISTS)}, expected {'f' * 64}"):
        reference_file("x/lists.zip", pinned=wrong, **kwargs)
    assert files_in(cache) == []


# --------------------------------------------------------------------------- offline: one skip line


def skip_line(relative: str, host: str, cache: Path) -> str:
    return (
        f"reference file {relative} missing: put ../shared beside the clone (or set HAFRAME_SHARED), "
        f"or allow network access to {host} to fetch it into {cache}"
    )


def test_an_unreachable_server_skips_with_one_line(tmp_path):
    port, cache = closed_port(), tmp_path / "cache"
    kwargs = dict(
        shared=tmp_path / "no-shared",
        cache=cache,
        base_url=f"http://127.0.0.1:{port}",
        pinned={"x/file.bin": Pinned(UPSTREAM, DIGEST)},
    )
    for _ in range(2):  # the second time at once: the URL is known to be unreachable
        with pytest.raises(pytest.skip.Exception) as skipped:
            reference_file("x/file.bin", **kwargs)
        assert str(skipped.value) == skip_line("x/file.bin", f"127.0.0.1:{port}", cache)
    assert files_in(cache) == []


def test_a_file_the_server_lacks_skips_the_same_way(tmp_path, mirror):
    cache = tmp_path / "cache"
    kwargs = dict(
        shared=tmp_path / "no-shared",
        cache=cache,
        base_url=mirror.base_url,
        pinned={"x/file.bin": Pinned(UPSTREAM, DIGEST)},
    )
    with pytest.raises(pytest.skip.Exception) as skipped:
        reference_file("x/file.bin", **kwargs)
    assert str(skipped.value) == skip_line("x/file.bin", mirror.base_url[len("http://") :], cache)
    assert "\n" not in str(skipped.value) and files_in(cache) == []


def test_the_default_skip_line_names_the_file_and_raw_githubusercontent(tmp_path, monkeypatch):
    monkeypatch.delenv("HAFRAME_REFERENCE_BASE_URL", raising=False)
    monkeypatch.setattr(reference_files, "_unreachable", {PINNED["hierarchies/inat19/isa.txt"].url})  # offline
    with pytest.raises(pytest.skip.Exception) as skipped:
        reference_file("hierarchies/inat19/isa.txt", shared=tmp_path / "no-shared", cache=tmp_path / "cache")
    assert str(skipped.value) == skip_line(
        "hierarchies/inat19/isa.txt", "raw.githubusercontent.com", tmp_path / "cache"
    )


def test_a_real_entry_is_fetched_from_a_mirror_and_checked_against_its_pin(tmp_path, mirror):
    relative = "hierarchies/fgvc_aircraft/tree.pkl"
    mirror.put(PINNED[relative].url, reference_file(relative).read_bytes())
    path = reference_file(relative, shared=tmp_path / "no-shared", cache=tmp_path / "cache", base_url=mirror.base_url)
    assert sha256_of(path) == PINNED[relative].sha256
    assert mirror.requests == [
        "/ltong1130ztr/HAFrame/abe73b43dd0122a727ca87029e325ba854b18c16/data/fgvc_aircraft_tree.pkl"
    ]


# --------------------------------------------------------------------------- the table itself


def test_the_table_pins_what_the_pipeline_downloads():
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for name, ds in config["datasets"].items():
        assert PINNED[f"hierarchies/{name}/tree.pkl"][:2] == (ds["hierarchy"]["source"], ds["hierarchy"]["sha256"]), (
            name
        )
    tiered = KINDS["tiered_imagenet"].sources["splits"]
    assert PINNED["splits/splits_tiered.zip"][:2] == (tiered.url, tiered.sha256)
    lists = PINNED["splits/inat19_split_lists.tar.xz"]
    assert (lists.url, lists.sha256, lists.lists_digest) == (
        KINDS["inat19"].sources["splits"].url,
        None,
        inat19.SPLITS_DIGEST,
    )
    for entry in PINNED.values():
        assert entry.url.startswith(RAW + "/") and re.fullmatch(r"[0-9a-f]{64}", entry.sha256 or entry.lists_digest)


def test_the_table_matches_the_shared_copies_and_their_readme_where_present():
    reference = SHARED / "reference"
    if not (reference / "README.md").is_file():
        return  # a fresh clone: nothing to compare with (the other tests skip, one line per file)
    readme = (reference / "README.md").read_text()
    listed = set(re.findall(r"^\| ((?:hierarchies|splits)/\S+) \|", readme, flags=re.M))
    assert listed == set(PINNED)
    for relative, entry in PINNED.items():
        row = next(line for line in readme.splitlines() if line.startswith(f"| {relative} |"))
        if entry.sha256 is not None:
            assert entry.sha256 in row and sha256_of(reference / relative) == entry.sha256, relative
        assert entry.url.rsplit("/", 1)[-1] in row or relative.startswith("splits/inat19"), relative
        if entry.lists_digest is not None:
            assert entry.lists_digest in readme, relative
