"""haframe.downloads: the verified, resumable download helper; haframe.fileio: sha256_of, atomic_path.

HTTP cases run against a real http.server on 127.0.0.1 (port 0) in a thread, with a
handler that can honour Range requests, truncate bodies, or answer 404.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import re
import threading
from pathlib import Path

import pytest
from conftest import direct_to_localhost, http_servers
from reference_files import reference_file

from haframe.downloads import DownloadError, download
from haframe.fileio import atomic_path, sha256_of

DATA = bytes((i * 7919 + (i >> 8)) % 256 for i in range(300_000))  # not a multiple of any chunk size
DIGEST = hashlib.sha256(DATA).hexdigest()
HALF = len(DATA) // 2


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    direct_to_localhost(monkeypatch)


class Server:
    """http.server on 127.0.0.1 with a scriptable GET behaviour; records every request."""

    def __init__(self, body: bytes, mode: str):
        self.body, self.mode = body, mode
        self.requests: list[dict] = []
        self.release = threading.Event()  # ends a 'stall_first' response (set at teardown at the latest)
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection, closed after it

            def log_message(self, *args):
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                server.requests.append({"path": self.path, "range": rng})
                n = len(server.requests)
                data = server.body
                if self.path != "/file.bin":
                    self.send_error(404, "Not Found")
                    return
                if server.mode == "stall_first" and n == 1:
                    # announce the whole file, send half of it, then stall (the client times out)
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    server.release.wait(timeout=10)
                    self.close_connection = True
                    return
                if server.mode == "truncate_always" or (server.mode == "half_first" and n == 1):
                    # announce the whole file, send half of it, close the connection
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                start = 0
                if rng is not None and server.mode in ("range", "half_first", "stall_first"):
                    match = re.fullmatch(r"bytes=(\d+)-", rng)
                    assert match, rng
                    start = int(match.group(1))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:  # mode 'norange', or no Range asked
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                self.wfile.write(data[start:])

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/file.bin"

    @property
    def ranges(self) -> list:
        return [r["range"] for r in self.requests]


@pytest.fixture
def serve():
    with http_servers() as servers:

        def start(body: bytes = DATA, mode: str = "range") -> Server:
            server = Server(body, mode)
            server.thread.start()
            servers.append(server)
            return server

        yield start


def new_files(folder: Path, before: set) -> list:
    return sorted(p.name for p in folder.iterdir() if p.name not in before)


# --------------------------------------------------------------------------- sha256_of


def test_sha256_of_matches_hashlib_and_the_reference_readme(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(DATA)
    assert sha256_of(path) == DIGEST
    assert sha256_of(path, chunk=1000) == DIGEST
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert sha256_of(empty) == hashlib.sha256(b"").hexdigest()
    # a real reference file against the digest published in its README
    tree = reference_file("hierarchies/cifar100/tree.pkl")
    assert sha256_of(tree) == "15344a9c81854b3dd118424702a7f0da12ae8edf7c9c9650babc13393ed47f0c"


# --------------------------------------------------------------------------- 1. sources


def test_download_from_local_path_and_no_reread(tmp_path):
    source = tmp_path / "src" / "file.bin"
    source.parent.mkdir()
    source.write_bytes(DATA)
    dest = tmp_path / "out" / "file.bin"
    assert download(str(source), dest, DIGEST) == dest
    assert dest.read_bytes() == DATA
    assert not dest.with_name("file.bin.part").exists()
    # present and verified: the source is not read again (it is gone now)
    source.unlink()
    assert download(str(source), dest, DIGEST) == dest
    assert dest.read_bytes() == DATA


def test_download_from_file_url(tmp_path):
    source = tmp_path / "a folder with spaces" / "file #1.bin"
    source.parent.mkdir()
    source.write_bytes(DATA)
    dest = tmp_path / "out.bin"
    uri = source.as_uri()
    assert uri.startswith("file://") and "%20" in uri
    download(uri, dest, DIGEST)
    assert dest.read_bytes() == DATA
    # the source changes: the present, verified file is kept and the source not read
    source.write_bytes(b"something else")
    download(uri, dest, DIGEST)
    assert dest.read_bytes() == DATA


def test_download_from_http(tmp_path, serve):
    server = serve()
    dest = tmp_path / "file.bin"
    download(server.url, dest, DIGEST)
    assert dest.read_bytes() == DATA
    assert server.ranges == [None]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.bin"]
    # second call: present and verified, no request at all
    download(server.url, dest, DIGEST)
    assert len(server.requests) == 1
    assert dest.read_bytes() == DATA


def test_present_file_with_wrong_content_is_replaced(tmp_path, serve):
    server = serve()
    dest = tmp_path / "file.bin"
    dest.write_bytes(b"stale")
    download(server.url, dest, DIGEST)
    assert dest.read_bytes() == DATA
    assert len(server.requests) == 1


def test_missing_local_source(tmp_path):
    with pytest.raises(DownloadError, match="not found"):
        download(str(tmp_path / "nope.bin"), tmp_path / "out.bin", DIGEST)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- 2. wrong sha256


@pytest.mark.parametrize("via", ["path", "file_url", "http"])
def test_wrong_sha256(tmp_path, serve, via):
    source = tmp_path / "src.bin"
    source.write_bytes(DATA)
    out = tmp_path / "out"
    out.mkdir()
    dest = out / "file.bin"
    wrong = "0" * 64
    url = {"path": str(source), "file_url": source.as_uri(), "http": serve().url if via == "http" else None}[via]
    with pytest.raises(DownloadError) as excinfo:
        download(url, dest, wrong)
    message = str(excinfo.value)
    assert "file.bin" in message and wrong in message and DIGEST in message
    assert not dest.exists() and not dest.with_name("file.bin.part").exists()
    assert list(out.iterdir()) == []


# --------------------------------------------------------------------------- 3. truncation and resume


def test_truncated_local_source(tmp_path):
    source = tmp_path / "src.bin"
    source.write_bytes(DATA[:HALF])
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(DownloadError) as excinfo:
        download(str(source), out / "file.bin", DIGEST)
    assert "file.bin" in str(excinfo.value) and DIGEST in str(excinfo.value)
    assert list(out.iterdir()) == []


def test_http_always_truncated(tmp_path, serve):
    server = serve(mode="truncate_always")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(DownloadError) as excinfo:
        download(server.url, out / "file.bin", DIGEST, attempts=3)
    message = str(excinfo.value)
    assert "truncated" in message or ("sha256" in message and DIGEST in message), message
    assert "file.bin" in message
    assert list(out.iterdir()) == []
    assert 1 <= len(server.requests) <= 3  # bounded retries


def test_http_resume_after_short_first_response(tmp_path, serve):
    server = serve(mode="half_first")
    dest = tmp_path / "file.bin"
    messages = []
    download(server.url, dest, DIGEST, attempts=3, log=messages.append)
    assert dest.read_bytes() == DATA
    assert server.ranges == [None, f"bytes={HALF}-"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.bin"]


def interrupted_download(server, dest) -> None:
    """A first download that stalls at half the file and times out: its bytes are kept."""
    with pytest.raises(DownloadError, match="timed out") as excinfo:
        download(server.url, dest, DIGEST, attempts=1, timeout=0.5)
    assert f"the {HALF} bytes received are kept" in str(excinfo.value)
    assert dest.with_name("file.bin.part").stat().st_size == HALF and not dest.exists()


def test_leftover_part_file_is_resumed(tmp_path, serve):
    server = serve(mode="stall_first")
    dest = tmp_path / "file.bin"
    interrupted_download(server, dest)
    download(server.url, dest, DIGEST)  # the next run: resumes where the first stopped
    assert server.ranges == [None, f"bytes={HALF}-"]
    assert dest.read_bytes() == DATA
    assert sha256_of(dest) == DIGEST
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.bin"]


def test_leftover_part_with_server_ignoring_range(tmp_path, serve):
    server = serve(mode="stall_first")
    dest = tmp_path / "file.bin"
    interrupted_download(server, dest)
    server.mode = "norange"  # now answers 200 with the whole file to a Range request
    download(server.url, dest, DIGEST)
    assert server.ranges == [None, f"bytes={HALF}-"]
    assert dest.read_bytes() == DATA  # the whole body from zero, not spliced onto the old half
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.bin"]


def test_a_part_of_unknown_origin_is_never_spliced(tmp_path, serve):
    server = serve(mode="range")
    dest = tmp_path / "file.bin"
    dest.with_name("file.bin.part").write_bytes(b"x" * 1000)  # no record of what it is part of
    download(server.url, dest, DIGEST)
    assert server.ranges == [None]  # fetched from zero
    assert dest.read_bytes() == DATA
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.bin"]


def test_leftover_part_is_resumed_from_local_source(tmp_path):
    source = tmp_path / "src.bin"
    source.write_bytes(DATA)
    dest = tmp_path / "out" / "file.bin"
    dest.parent.mkdir()
    dest.with_name("file.bin.part").write_bytes(DATA[:HALF])
    download(str(source), dest, DIGEST)
    assert dest.read_bytes() == DATA
    assert sorted(p.name for p in dest.parent.iterdir()) == ["file.bin"]


# --------------------------------------------------------------------------- 4. HTTP errors


def test_http_404(tmp_path, serve):
    server = serve()
    out = tmp_path / "out"
    out.mkdir()
    url = server.url.replace("/file.bin", "/missing.bin")
    with pytest.raises(DownloadError, match="404") as excinfo:
        download(url, out / "file.bin", DIGEST)
    assert "file.bin" in str(excinfo.value)
    assert list(out.iterdir()) == []
    assert len(server.requests) == 1  # a 404 is not retried


# --------------------------------------------------------------------------- 5. atomic_path


def test_atomic_path_failure_leaves_nothing(tmp_path):
    target = tmp_path / "sub" / "result.json"
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_path(target) as tmp:
            assert tmp.parent == target.parent and tmp != target
            tmp.write_text("partial")
            assert not target.exists()
            raise RuntimeError("boom")
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_atomic_path_failure_keeps_previous_file(tmp_path):
    target = tmp_path / "result.txt"
    target.write_text("old")
    with pytest.raises(KeyError):
        with atomic_path(target) as tmp:
            tmp.write_text("new")
            raise KeyError("x")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.txt"]


def test_atomic_path_success(tmp_path):
    target = tmp_path / "result.txt"
    with atomic_path(target) as tmp:
        tmp.write_text("done")
        assert not target.exists()
    assert target.read_text() == "done"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.txt"]
    assert not any(name.endswith(".tmp") for name in os.listdir(tmp_path))


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_atomic_writes_get_the_mode_a_plain_open_would(tmp_path, umask, mode):
    from haframe.fileio import write_text

    previous = os.umask(umask)
    try:
        write_text(tmp_path / "table.md", "| a |\n")
        with open(tmp_path / "plain.md", "w") as handle:
            handle.write("| a |\n")
    finally:
        os.umask(previous)
    assert (tmp_path / "table.md").stat().st_mode & 0o777 == mode == (tmp_path / "plain.md").stat().st_mode & 0o777


def test_a_torch_file_that_changed_or_was_cut_short_is_named_as_corrupt(tmp_path):
    """haframe.checkpoints.verify/load: every member's CRC-32 (torch.load checks none)."""
    import torch

    from haframe.checkpoints import CorruptFile, load, set_aside, verify

    path = tmp_path / "checkpoint.pt"
    torch.save({"model": {"weight": torch.arange(4096, dtype=torch.float32)}, "epoch": 3}, path)
    verify(path)
    assert load(path)["epoch"] == 3
    data = bytearray(path.read_bytes())
    flipped = tmp_path / "flipped.pt"
    middle = len(data) // 2
    flipped.write_bytes(
        bytes(data[:middle]) + bytes(b ^ 0xFF for b in data[middle : middle + 4]) + bytes(data[middle + 4 :])
    )
    with pytest.raises(CorruptFile, match=r"flipped.pt: member .* fails its CRC-32 check"):
        load(flipped)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(CorruptFile, match=r"cut.pt: not a complete torch file") as error:
        verify(cut)
    moved = set_aside(error.value.path)
    assert (
        not cut.exists()
        and moved.name.startswith("cut.pt.corrupt-")
        and moved.read_bytes() == bytes(data[: len(data) // 2])
    )
