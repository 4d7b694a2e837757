"""Verified first downloads, resuming, network errors and the download lock file.

Every HTTP case runs against a real http.server on 127.0.0.1 (port 0) in a thread, whose
behaviour a test scripts per request; every wait is bounded. The DAG test at the end runs the
real rules (download_source, extract_source, download_hierarchy, parse_hierarchy,
prepare_dataset) through the snakemake CLI on a miniature FGVC-Aircraft served over HTTP.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO, direct_to_localhost, http_servers, run_snakemake, tiny_config

import haframe.downloads
from haframe.archives import ArchiveError, safe_extract
from haframe.checkpoints import check_weights_file, resnet50_body_keys
from haframe.downloads import ChecksumMismatch, DownloadError, LockKey, download, read_lock
from haframe.fileio import sha256_of
from haframe.pins import pin_validated, reject_unverified

DATA = bytes((i * 7919 + (i >> 8)) % 256 for i in range(400_000))
OTHER = bytes((i * 104729 + 13) % 256 for i in range(410_000))  # another version of the file
DROP_AT = 150_000


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    direct_to_localhost(monkeypatch)


class Server:
    """A file server on 127.0.0.1 whose answers the test scripts.

    ``plan``: what to do with the next requests, one word each (then ``default``): ``ok``
    (honour Range and If-Range, as a good server does), ``drop`` (announce the whole body, send
    DROP_AT bytes of it, close), ``norange`` (the whole body with 200, whatever was asked),
    ``badrange`` (206 with a Content-Range from byte 0 to a Range request), ``stall`` (say
    nothing until released), or an HTTP status code such as ``500``.
    """

    def __init__(self, body: bytes, default: str = "ok"):
        self.body, self.default, self.plan = body, default, []
        self.requests: list[dict] = []
        self.release = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append({"range": self.headers.get("Range"), "if_range": self.headers.get("If-Range")})
                action = server.plan.pop(0) if server.plan else server.default
                body, etag = server.body, f'"{hashlib.sha256(server.body).hexdigest()[:16]}"'
                if action == "stall":
                    server.release.wait(timeout=20)
                    return
                if action.isdigit():
                    self.send_error(int(action))
                    return
                start = 0
                asked = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
                fresh = self.headers.get("If-Range") in (None, etag)
                if action == "badrange" and asked:
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes 0-{len(body) - 1}/{len(body)}")
                elif action in ("ok", "drop") and asked and fresh:
                    start = int(asked.group(1))
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.send_header("ETag", etag)
                self.end_headers()
                if action == "drop":
                    self.wfile.write(body[start : start + DROP_AT])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)  # the connection drops mid-file
                    return
                self.wfile.write(body[start:])

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, name: str = "file.bin") -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"


@pytest.fixture
def serve():
    with http_servers() as servers:

        def start(body: bytes = DATA, default: str = "ok", plan: tuple = ()) -> Server:
            server = Server(body, default)
            server.plan = list(plan)
            server.thread.start()
            servers.append(server)
            return server

        yield start


@pytest.fixture
def fast_backoff(monkeypatch):
    """Backoff from 0.1 s instead of 1 s: the same policy, in test time."""
    monkeypatch.setattr(haframe.downloads, "BACKOFF_BASE", 0.1)


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def lock_of(tmp_path: Path, dataset: str = "mini", source: str = "archive") -> LockKey:
    return LockKey(tmp_path / "downloads.lock.yaml", dataset, source)


# --------------------------------------------------------------------------- resuming


def test_a_dropped_connection_is_resumed_with_a_matching_range(tmp_path, serve):
    server = serve(plan=("drop",))
    dest = tmp_path / "out" / "file.bin"
    download(server.url(), dest, hashlib.sha256(DATA).hexdigest())
    assert dest.read_bytes() == DATA
    assert [r["range"] for r in server.requests] == [None, f"bytes={DROP_AT}-"]
    assert server.requests[1]["if_range"]  # the server's ETag: a changed file comes back whole
    assert names(dest.parent) == ["file.bin"]


def test_an_unhashed_download_resumed_twice_is_byte_exact(tmp_path, serve):
    server = serve(plan=("drop", "drop"))  # nothing but the final file checks what was spliced
    dest = tmp_path / "file.bin"
    download(server.url(), dest, pin=lock_of(tmp_path))
    assert dest.read_bytes() == DATA
    assert [r["range"] for r in server.requests] == [None, f"bytes={DROP_AT}-", f"bytes={2 * DROP_AT}-"]


def test_a_server_that_ignores_range_never_gets_its_bytes_spliced(tmp_path, serve):
    server = serve(default="norange", plan=("drop",))
    dest = tmp_path / "file.bin"
    download(server.url(), dest, pin=lock_of(tmp_path))  # no checksum that would catch a splice
    assert [r["range"] for r in server.requests] == [None, f"bytes={DROP_AT}-"]
    assert dest.read_bytes() == DATA  # the 200's whole body, from zero


def test_a_206_with_another_content_range_is_not_spliced(tmp_path, serve):
    server = serve(plan=("drop", "badrange"))
    dest = tmp_path / "file.bin"
    download(server.url(), dest, pin=lock_of(tmp_path))
    assert [r["range"] for r in server.requests] == [None, f"bytes={DROP_AT}-", None]
    assert dest.read_bytes() == DATA


def test_a_file_changed_on_the_server_comes_back_whole(tmp_path, serve):
    server = serve(plan=("drop",), default="stall")
    dest = tmp_path / "file.bin"
    with pytest.raises(DownloadError):  # the connection drops, then the server stalls
        download(server.url(), dest, pin=lock_of(tmp_path), attempts=2, timeout=0.5)
    assert dest.with_name("file.bin.part").stat().st_size == DROP_AT  # kept for the next run
    server.body, server.default = OTHER, "ok"  # a new version upstream
    download(server.url(), dest, pin=lock_of(tmp_path))
    assert server.requests[-1]["range"] == f"bytes={DROP_AT}-" and server.requests[-1]["if_range"]
    assert dest.read_bytes() == OTHER  # If-Range: the new file whole, not old bytes + new tail


KILLED_CHILD = """
import sys
from haframe.downloads import download
download(sys.argv[1], sys.argv[2], sys.argv[3], timeout=30)
"""


def test_a_killed_download_is_resumed_by_the_next_process(tmp_path, serve):
    server = serve(plan=("drop",), default="stall")
    dest = tmp_path / "file.bin"
    digest = hashlib.sha256(DATA).hexdigest()
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_CHILD, server.url(), str(dest), digest],
        env={**os.environ, "NO_PROXY": "127.0.0.1"},
    )
    part = dest.with_name("file.bin.part")
    try:
        for _ in range(200):  # the child got the first DROP_AT bytes, then waits on the stalled retry
            if len(server.requests) >= 2 and part.is_file() and part.stat().st_size == DROP_AT:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the child never reached its second request")
    finally:
        child.kill()
        child.wait(timeout=10)
    server.default = "ok"
    download(server.url(), dest, digest)
    assert server.requests[-1]["range"] == f"bytes={DROP_AT}-"
    assert dest.read_bytes() == DATA
    assert names(tmp_path) == ["file.bin"]


# --------------------------------------------------------------------------- network errors


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again on leaving: nothing listens there


def failing_download(url: str, tmp_path: Path, **kwargs) -> tuple[DownloadError, float, list[str]]:
    messages: list[str] = []
    out = tmp_path / "out"
    start = time.monotonic()
    with pytest.raises(DownloadError) as excinfo:
        download(url, out / "file.bin", "0" * 64, log=messages.append, **kwargs)
    elapsed = time.monotonic() - start
    assert not isinstance(excinfo.value, ChecksumMismatch)
    assert not out.exists() or names(out) == []  # no .part of a transfer that never started
    assert url in str(excinfo.value) and excinfo.value.url == url
    return excinfo.value, elapsed, messages


def retry_delays(messages: list[str]) -> list[float]:
    return [float(m) for m in re.findall(r"retrying in ([\d.]+) s", "\n".join(messages))]


def test_an_unreachable_host_is_retried_with_backoff_within_its_bound(tmp_path, fast_backoff):
    url = f"http://127.0.0.1:{closed_port()}/file.bin"
    error, elapsed, messages = failing_download(url, tmp_path, retry_seconds=2.0, attempts=100)
    assert "connection refused" in str(error) and error.cause.startswith("connection refused")
    assert elapsed < 2.0 + 0.5
    delays = retry_delays(messages)
    assert len(delays) >= 3
    for n, delay in enumerate(delays, 1):  # 0.1 * 2^(n-1), times a jitter in [0.5, 1)
        assert 0.5 * 0.1 * 2 ** (n - 1) - 0.05 <= delay <= 0.1 * 2 ** (n - 1) + 0.05, delays
    assert sum(delays) <= 2.0


def test_attempts_bound_the_retries_too(tmp_path, fast_backoff):
    url = f"http://127.0.0.1:{closed_port()}/file.bin"
    error, _, messages = failing_download(url, tmp_path, retry_seconds=60, attempts=3)
    assert len(retry_delays(messages)) == 2 and "gave up after 3 attempts" in str(error)


def test_a_dns_failure_names_the_host(tmp_path, fast_backoff):
    url = "http://no-such-host.invalid/file.bin"  # .invalid never resolves (RFC 2606)
    error, elapsed, _ = failing_download(url, tmp_path, retry_seconds=2.0)
    assert "DNS lookup of 'no-such-host.invalid' failed" in str(error)
    assert elapsed < 2.0 + 0.5


def test_a_timeout_is_retried_within_its_bound(tmp_path, serve, fast_backoff):
    server = serve(default="stall")
    error, elapsed, messages = failing_download(server.url(), tmp_path, retry_seconds=2.0, timeout=0.5)
    assert "timed out: no answer within 0.5 s" in str(error)
    assert len(server.requests) >= 3
    assert elapsed < 2.0 + 0.5  # later attempts get only what is left of the budget


def test_http_500_is_retried_and_404_is_not(tmp_path, serve, fast_backoff):
    server = serve(default="500")
    error, elapsed, _ = failing_download(server.url(), tmp_path, retry_seconds=1.5)
    assert "HTTP 500" in str(error) and len(server.requests) >= 3 and elapsed < 1.5 + 0.5
    server = serve(default="404")
    error, _, _ = failing_download(server.url(), tmp_path / "b", retry_seconds=60)
    assert "HTTP 404" in str(error) and "not retried" in str(error) and len(server.requests) == 1


def test_a_server_error_then_success_downloads_the_file(tmp_path, serve, fast_backoff):
    server = serve(plan=("503", "503"))
    dest = tmp_path / "file.bin"
    download(server.url(), dest, hashlib.sha256(DATA).hexdigest())
    assert dest.read_bytes() == DATA and len(server.requests) == 3


# --------------------------------------------------------------------------- checksums and the lock


def test_a_published_checksum_mismatch_is_its_own_error(tmp_path, serve):
    server = serve()
    with pytest.raises(ChecksumMismatch) as excinfo:
        download(server.url(), tmp_path / "file.bin", "0" * 64)
    assert excinfo.value.expected == "0" * 64 and excinfo.value.found == hashlib.sha256(DATA).hexdigest()
    assert isinstance(excinfo.value, DownloadError) and names(tmp_path) == []


def test_an_unhashed_download_is_pinned_only_by_its_validation(tmp_path, serve):
    server = serve()
    pin = lock_of(tmp_path)
    dest = tmp_path / "file.bin"
    download(server.url(), dest, pin=pin)
    assert not pin.lock_file.exists()  # downloaded, not validated: nothing pinned
    record = yaml.safe_load(dest.with_name("file.bin.unverified.yaml").read_text())
    assert (record["sha256"], record["size"], record["dataset"], record["source"]) == (
        hashlib.sha256(DATA).hexdigest(),
        len(DATA),
        "mini",
        "archive",
    )
    entry = pin_validated(dest, "checked by the test")
    assert read_lock(pin.lock_file) == {"mini": {"archive": {server.url(): entry}}}
    assert (entry["sha256"], entry["size"], entry["file"], entry["url"]) == (
        hashlib.sha256(DATA).hexdigest(),
        len(DATA),
        "file.bin",
        server.url(),
    )
    assert names(tmp_path) == ["downloads.lock.yaml", "downloads.lock.yaml.lock", "file.bin"]
    assert pin_validated(dest, "again") is None  # pinned already: nothing to do


def test_a_truncated_unhashed_archive_is_refused_and_nothing_pinned(tmp_path, serve):
    archive = tmp_path / "src.tar.gz"
    payload = tmp_path / "payload"
    payload.mkdir()
    (payload / "a.bin").write_bytes(DATA)
    subprocess.run(["tar", "czf", str(archive), "-C", str(payload), "a.bin"], check=True)
    full = archive.read_bytes()
    server = serve(body=full[:-7])  # a mirror serving a cut file, with a Content-Length to match
    pin = lock_of(tmp_path)
    dest = tmp_path / "downloads" / "src.tar.gz"
    download(server.url(), dest, pin=pin)  # the transfer itself is complete
    with pytest.raises(ArchiveError, match="not a complete archive"):
        safe_extract(dest, tmp_path / "extracted")
    assert reject_unverified(dest, "not a complete archive")  # what extract_source does
    assert names(dest.parent) == [] and not pin.lock_file.exists()
    server.body = full
    download(server.url(), dest, pin=pin)
    safe_extract(dest, tmp_path / "extracted")
    pin_validated(dest, "extracted completely")
    assert read_lock(pin.lock_file)["mini"]["archive"][server.url()]["sha256"] == hashlib.sha256(full).hexdigest()


def test_a_later_mismatch_names_both_digests_the_lock_and_the_repin_command(tmp_path, serve):
    server = serve()
    pin = lock_of(tmp_path)
    dest = tmp_path / "downloads" / "file.bin"
    download(server.url(), dest, pin=pin)
    pin_validated(dest, "validated")
    dest.unlink()  # another machine, or a cleaned data folder
    server.body = OTHER  # upstream changed the file
    with pytest.raises(ChecksumMismatch) as excinfo:
        download(server.url(), dest, pin=pin)
    message = str(excinfo.value)
    old, new = hashlib.sha256(DATA).hexdigest(), hashlib.sha256(OTHER).hexdigest()
    assert f"expected sha256 {old} ({len(DATA)} bytes), found sha256 {new} ({len(OTHER)} bytes)" in message
    assert str(pin.lock_file) in message
    command = re.search(r"`(\.venv/bin/python -m haframe\.pins repin [^`]+)`", message).group(1)
    assert command == f".venv/bin/python -m haframe.pins repin mini archive --url {server.url()} --lock {pin.lock_file}"
    assert not dest.exists() and dest.with_name("file.bin.rejected").read_bytes() == OTHER  # for the user to check
    assert read_lock(pin.lock_file)["mini"]["archive"][server.url()]["sha256"] == old  # still the old pin
    # the user checks the kept file, then runs the printed command as it stands
    argv = shlex.split(command)
    result = subprocess.run([sys.executable, *argv[1:]], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stderr
    assert f"unpinned mini archive (was sha256 {old}" in result.stdout and "the next run validates it" in result.stdout
    assert "mini" not in read_lock(pin.lock_file)
    requests = len(server.requests)
    download(server.url(), dest, pin=pin)  # the next run: the checked file, not downloaded again
    assert len(server.requests) == requests and dest.read_bytes() == OTHER
    assert pin_validated(dest, "validated")["sha256"] == new
    download(server.url(), dest, pin=pin)  # now pinned to the new file
    assert len(server.requests) == requests


def test_repin_names_what_is_pinned_when_asked_for_something_else(tmp_path, serve):
    server = serve()
    pin = lock_of(tmp_path)
    download(server.url(), tmp_path / "file.bin", pin=pin)
    pin_validated(tmp_path / "file.bin", "validated")
    result = subprocess.run(
        [sys.executable, "-m", "haframe.pins", "repin", "mini", "splits", "--lock", str(pin.lock_file)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert f"{pin.lock_file}: nothing pinned as mini splits; pinned: mini archive {server.url()}" in result.stderr


def test_the_lock_is_keyed_by_dataset_and_source(tmp_path, serve):
    first, second = serve(body=DATA), serve(body=OTHER)
    lock = tmp_path / "downloads.lock.yaml"
    a, b = LockKey(lock, "dataset_a", "archive"), LockKey(lock, "dataset_b", "archive")
    for server, pin in ((first, a), (second, b)):  # same file name, different files
        dest = tmp_path / pin.dataset / "archive.tar.gz"
        download(server.url("archive.tar.gz"), dest, pin=pin)
        pin_validated(dest, "validated")
    pins = read_lock(lock)
    assert pins["dataset_a"]["archive"][first.url("archive.tar.gz")]["sha256"] == hashlib.sha256(DATA).hexdigest()
    assert pins["dataset_b"]["archive"][second.url("archive.tar.gz")]["sha256"] == hashlib.sha256(OTHER).hexdigest()
    for pin in (a, b):  # each enforces its own pin
        download(
            (first if pin is a else second).url("archive.tar.gz"), tmp_path / pin.dataset / "archive.tar.gz", pin=pin
        )
    first.body = OTHER  # the same source sending another file: refused by its pin
    with pytest.raises(ChecksumMismatch):
        download(first.url("archive.tar.gz"), tmp_path / "elsewhere" / "archive.tar.gz", pin=a)
    text = lock.read_text()
    assert text.startswith("# Downloads with no published checksum") and "repin <dataset> <source>" in text


def test_one_dataset_name_downloading_from_two_places_keeps_a_pin_for_each(tmp_path, serve):
    """Issue 25, item 7: two studies whose dataset of one name downloads its hierarchy from two
    places (the real tree and a shuffled one) never collide; each source enforces its own pin."""
    real, shuffled = serve(body=DATA), serve(body=OTHER)
    pin = LockKey(tmp_path / "downloads.lock.yaml", "my_data", "hierarchy")
    for server, study in ((real, "a"), (shuffled, "b")):
        dest = tmp_path / study / "tree.tsv"
        download(server.url("tree.tsv"), dest, pin=pin)
        pin_validated(dest, "parsed")
    urls = read_lock(pin.lock_file)["my_data"]["hierarchy"]
    assert {url: entry["sha256"] for url, entry in urls.items()} == {
        real.url("tree.tsv"): hashlib.sha256(DATA).hexdigest(),
        shuffled.url("tree.tsv"): hashlib.sha256(OTHER).hexdigest(),
    }
    real.body = OTHER  # the real tree's server now sends the other file: its own pin refuses it
    with pytest.raises(ChecksumMismatch, match="--url " + re.escape(real.url("tree.tsv"))):
        download(real.url("tree.tsv"), tmp_path / "c" / "tree.tsv", pin=pin)


def test_a_version_2_lock_is_read_as_the_same_pins(tmp_path, serve):
    server = serve()
    lock = tmp_path / "downloads.lock.yaml"
    entry = {"file": "file.bin", "url": server.url(), "size": len(DATA), "sha256": hashlib.sha256(DATA).hexdigest()}
    lock.write_text(yaml.safe_dump({"version": 2, "pins": {"mini": {"archive": entry}}}))
    assert read_lock(lock) == {"mini": {"archive": {server.url(): entry}}}
    download(server.url(), tmp_path / "file.bin", pin=LockKey(lock, "mini", "archive"))  # verified against it
    assert not (tmp_path / "file.bin.unverified.yaml").exists()


def test_an_old_lock_keyed_by_file_name_is_refused_with_what_to_do(tmp_path, serve):
    lock = tmp_path / "downloads.lock.yaml"
    lock.write_text("fgvc-aircraft-2013b.tar.gz: " + "a" * 64 + "\n")
    with pytest.raises(DownloadError) as excinfo:
        download(serve().url(), tmp_path / "file.bin", pin=LockKey(lock, "mini", "archive"))
    assert f"{lock}: not a version-3 download lock" in str(excinfo.value)
    assert f"mv {lock} {lock}.old" in str(excinfo.value)


# --------------------------------------------------------------------------- weights


def test_the_torch_free_key_list_is_torchvision_s_resnet50_body():
    import torch
    import torchvision

    with torch.device("meta"):
        model = torchvision.models.resnet50()
    assert resnet50_body_keys() == [k for k in model.state_dict() if not k.startswith("fc.")]


def test_the_weights_check_accepts_both_formats_and_refuses_a_cut_or_wrong_file(tmp_path):
    import torch

    body = {key: torch.zeros(2) for key in resnet50_body_keys()}
    torchvision_file, moco_file, legacy_file = (
        tmp_path / "tv.pth",
        tmp_path / "moco.pth.tar",
        tmp_path / "legacy.pth.tar",
    )
    torch.save({**body, "fc.weight": torch.zeros(2), "fc.bias": torch.zeros(2)}, torchvision_file)
    moco = {"epoch": 800, "state_dict": {f"module.encoder_q.{k}": v for k, v in body.items()}}
    torch.save(moco, moco_file)
    torch.save(moco, legacy_file, _use_new_zipfile_serialization=False)
    assert "every CRC checked" in check_weights_file(torchvision_file, "torchvision")
    assert "266 keys" in check_weights_file(moco_file, "pass_moco")
    assert "legacy" in check_weights_file(legacy_file, "pass_moco")
    with pytest.raises(ValueError, match="265 of 265 keys missing"):
        check_weights_file(moco_file, "torchvision")
    cut = tmp_path / "cut.pth.tar"
    cut.write_bytes(moco_file.read_bytes()[:-100])
    with pytest.raises(ValueError, match="cut.pth.tar: neither a complete torch checkpoint"):
        check_weights_file(cut, "pass_moco")
    damaged = bytearray(moco_file.read_bytes())
    damaged[moco_file.read_bytes().index(b"PK\x03\x04", 100) - 20] ^= 0xFF  # in a storage's data
    (tmp_path / "damaged.pth.tar").write_bytes(damaged)
    with pytest.raises(ValueError, match="fails its CRC check"):
        check_weights_file(tmp_path / "damaged.pth.tar", "pass_moco")


def test_download_weights_pins_a_checkpoint_only_after_it_checks(tmp_path, serve):
    """The download_weights script's path: download, the weights check, then pin or reject."""
    import torch

    good = tmp_path / "good.pth.tar"
    torch.save({"state_dict": {f"module.encoder_q.{k}": torch.zeros(1) for k in resnet50_body_keys()}}, good)
    server = serve(body=good.read_bytes()[: len(good.read_bytes()) // 2])
    pin = LockKey(tmp_path / "downloads.lock.yaml", "weights", "pass_moco_v2_800ep")
    dest = tmp_path / "weights" / "moco_v2_800ep.pth.tar"
    download(server.url(), dest, pin=pin)
    with pytest.raises(ValueError) as excinfo:
        check_weights_file(dest, "pass_moco")
    assert reject_unverified(dest, str(excinfo.value))
    assert names(dest.parent) == [] and not pin.lock_file.exists()
    server.body = good.read_bytes()
    download(server.url(), dest, pin=pin)
    pin_validated(dest, check_weights_file(dest, "pass_moco"))
    assert read_lock(pin.lock_file)["weights"]["pass_moco_v2_800ep"][server.url()]["sha256"] == sha256_of(good)


# --------------------------------------------------------------------------- the rules


def mini_fgvc_study(archive_url: str, hierarchy: str | Path) -> dict:
    """The tiny study on one miniature FGVC-Aircraft dataset, ``mini``, fetched from ``archive_url``."""
    from haframe.data.kinds.fgvc_aircraft import FIXTURE_PER_SPLIT as PER_SPLIT

    config = tiny_config()
    config["datasets"] = {
        "mini": {
            "kind": "fgvc_aircraft",
            "frame": {"gamma": 1},
            "sources": {"archive": archive_url},
            "counts": {split: [n * 4, 4] for split, n in PER_SPLIT.items()},
            "hierarchy": {"source": str(hierarchy), "format": "tsv"},  # no sha256: pinned once it parses
            "training": {"batch_size": 4},
        }
    }
    return config


@pytest.mark.dag
def test_snakemake_does_not_multiply_the_helpers_retries(tmp_path):
    (tmp_path / "h.tsv").write_text("root\tjets\tv-F-slash-A-18\nroot\tjets\tv-other\n")  # 2 classes: a tree
    config = mini_fgvc_study(f"http://127.0.0.1:{closed_port()}/fgvc-aircraft-2013b.tar.gz", tmp_path / "h.tsv")
    config["downloads"] = {"retry_seconds": 1.5}
    work = tmp_path / "work"
    start = time.monotonic()
    # --retries 2 as profiles/slurm sets it: the download rules' `retries: 0` wins
    result = run_snakemake(
        work, config, "data/downloads/mini/fgvc-aircraft-2013b.tar.gz", "--retries", "2", check=False
    )
    assert result.returncode != 0
    log = (work / "data/logs/download/mini/fgvc-aircraft-2013b.tar.gz.log").read_text()
    assert log.count("fetching http://127.0.0.1") == 1  # one job: no Snakemake retry
    assert "connection refused" in log and "at most 10 attempts and 1.5 s without progress" in log
    assert time.monotonic() - start < 60


@pytest.mark.dag
def test_the_rules_refuse_a_cut_archive_and_a_broken_hierarchy_then_pin_the_right_ones(tmp_path, serve):
    from haframe.data.kinds import fgvc_aircraft as fgvc

    fixture = fgvc.fixture(tmp_path / "fixture")
    archive = fixture.sources["archive"].read_bytes()
    server = serve(body=archive[:-5])  # served whole, but cut: the transfer cannot tell
    hierarchy = serve(body=b"root\tjets\tv-F-slash-A-18\nroot\tjets\tv-F-slash-A-18\n")  # a class twice
    config = mini_fgvc_study(server.url("fgvc-aircraft-2013b.tar.gz"), hierarchy.url("mini_hierarchy.tsv"))
    work = tmp_path / "work"
    lock = work / "data" / "downloads.lock.yaml"
    target = "results/tiny/mini/data/meta.json"
    result = run_snakemake(work, config, target, check=False)
    assert result.returncode != 0
    assert "not a complete archive" in (work / "data/logs/extract/mini/fgvc-aircraft-2013b.tar.gz.log").read_text()
    assert not (work / "data/downloads/mini/fgvc-aircraft-2013b.tar.gz").exists()  # deleted: fetched anew next time
    assert "it does not parse as tsv" in (work / "results/tiny/mini/logs/parse_hierarchy.log").read_text()
    assert not (work / "results/tiny/mini/hierarchy/source/mini_hierarchy.tsv").exists()
    assert not lock.exists() or read_lock(lock) == {}  # nothing pinned

    server.body = archive
    hierarchy.body = "".join(
        f"root\t{'jets' if 'F' in c else 'airliners'}\t{c}\n" for c in fixture.hierarchy.classes
    ).encode()
    run_snakemake(work, config, target)
    pins = {source: entry for source, urls in read_lock(lock)["mini"].items() for entry in urls.values()}
    assert pins["archive"]["sha256"] == hashlib.sha256(archive).hexdigest()
    assert pins["archive"]["size"] == len(archive)
    assert pins["archive"]["validated"].startswith("extracted completely; the prepared counts")
    assert pins["hierarchy"]["sha256"] == hashlib.sha256(hierarchy.body).hexdigest()
    assert pins["hierarchy"]["validated"] == "parsed as tsv: 4 classes, height 2"
    assert json.loads((work / target).read_text())["counts"] == {split: n for split, (n, _) in fixture.counts.items()}
    leftovers = [p.name for p in (work / "data" / "downloads" / "mini").iterdir()]
    assert leftovers == ["fgvc-aircraft-2013b.tar.gz"]  # no .part, no unverified record


def test_a_decompression_bomb_is_refused_and_the_folder_follows_the_umask(tmp_path):
    """Issue 25, item 12: 306 KB expanding to 300 MB is refused before anything is written;
    an extracted folder gets 0777 less the umask, not mkdtemp's 0700."""
    import io
    import tarfile

    from haframe.archives import UnsafeArchiveError, safe_extract

    bomb = tmp_path / "bomb.tar.gz"
    with tarfile.open(bomb, "w:gz") as tar:
        member = tarfile.TarInfo("zeros.bin")
        member.size = 300 * 2**20
        tar.addfile(member, io.BytesIO(bytes(member.size)))
    assert bomb.stat().st_size < 400_000
    with pytest.raises(
        UnsafeArchiveError, match=r"bomb.tar.gz: its members add up to 314,572,800 bytes, more than 100"
    ):
        safe_extract(bomb, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))
    small = tmp_path / "small.tar"
    with tarfile.open(small, "w") as tar:
        member = tarfile.TarInfo("a.txt")
        member.size = 3
        tar.addfile(member, io.BytesIO(b"abc"))
    previous = os.umask(0o022)
    try:
        safe_extract(small, tmp_path / "small")
    finally:
        os.umask(previous)
    assert (tmp_path / "small").stat().st_mode & 0o777 == 0o755
