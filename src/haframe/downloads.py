"""Downloads: the one download helper (verified, retried, resumed), and the download lock file
that pins the sources without a published checksum (read here, and noted when a download does
not match its pin; ``haframe.pins`` pins and re-pins)."""

from __future__ import annotations

import datetime
import fcntl
import http.client
import json
import os
import random
import shlex
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .fileio import md5_of, read_yaml, sha256_of, write_text, write_yaml

RETRY_SECONDS = 600.0  # default: retries stop this long after the last progress (bytes that were new)
TIMEOUT_SECONDS = 60.0  # default socket timeout: connecting, and waiting for each read
BACKOFF_BASE, BACKOFF_CAP = 1.0, 60.0  # seconds: the n-th retry without progress waits base * 2^(n-1), capped, jittered
LOCK_VERSION = 3
MAX_ATTEMPTS = 100_000  # in all: ends a server that sends a few new bytes per connection, forever
REPIN = ".venv/bin/python -m haframe.pins repin"  # the re-pin command (haframe.pins)


class DownloadError(RuntimeError):
    """A download failed; the message names the file, the URL and the cause (``url``, ``cause``)."""

    def __init__(self, message: str, *, url: str | None = None, cause: str | None = None):
        super().__init__(message)
        self.url, self.cause = url, cause


class ChecksumMismatch(DownloadError):
    """The downloaded bytes are not the expected ones: a published checksum, or the lock file's pin."""

    def __init__(self, message: str, *, url: str | None = None, expected: str | None = None, found: str | None = None):
        super().__init__(message, url=url, cause="checksum mismatch")
        self.expected, self.found = expected, found


@dataclass(frozen=True)
class LockKey:
    """Where a source without a published checksum is pinned: in ``lock_file``, under its dataset
    (``weights`` for backbone weights) and its source key (a kind's source key, ``hierarchy``, or
    the weights' name)."""

    lock_file: str | os.PathLike
    dataset: str
    source: str


class _Interrupted(Exception):
    """One attempt failed; ``cause`` says how, ``retryable`` whether another attempt may help."""

    def __init__(self, cause: str, retryable: bool = True):
        super().__init__(cause)
        self.cause, self.retryable = cause, retryable


def _part(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def _part_meta(dest: Path) -> Path:
    """What the ``.part`` file is a prefix of: the URL, the full size, the server's validators."""
    return dest.with_name(dest.name + ".part.json")


def _unverified(dest: Path) -> Path:
    """The record of a download without a published checksum that is not pinned yet."""
    return dest.with_name(dest.name + ".unverified.yaml")


def _rejected(dest: Path) -> Path:
    return dest.with_name(dest.name + ".rejected")


def _discard_part(dest: Path) -> None:
    _part(dest).unlink(missing_ok=True)
    _part_meta(dest).unlink(missing_ok=True)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _describe(error: BaseException, url: str, timeout: float) -> _Interrupted:
    """A network error as a cause a user can act on, and whether retrying may help."""
    if isinstance(error, urllib.error.HTTPError):
        retry = error.code in (408, 425, 429) or error.code >= 500
        return _Interrupted(f"HTTP {error.code} {error.reason}", retry)
    reason = error.reason if isinstance(error, urllib.error.URLError) else error
    if isinstance(reason, socket.gaierror):
        host = urllib.parse.urlparse(url).hostname
        # EAI_AGAIN is a resolver that did not answer (retry); anything else: the name does not exist
        return _Interrupted(
            f"DNS lookup of {host!r} failed ({reason.strerror or reason})", reason.errno == socket.EAI_AGAIN
        )
    if isinstance(reason, TimeoutError):
        return _Interrupted(f"timed out: no answer within {timeout:g} s")
    if isinstance(reason, ConnectionRefusedError):
        return _Interrupted("connection refused (nothing listens on that host and port)")
    if isinstance(reason, ssl.SSLCertVerificationError):
        return _Interrupted(f"TLS certificate not accepted ({reason.verify_message})", False)
    if isinstance(reason, (ConnectionError, http.client.HTTPException)):
        return _Interrupted(f"connection lost ({type(reason).__name__}: {reason})")
    if isinstance(reason, OSError):
        return _Interrupted(f"{type(reason).__name__}: {reason.strerror or reason}")
    return _Interrupted(f"{type(reason).__name__}: {reason}")


def _content_range(value: str | None) -> tuple[int, int, int] | None:
    """``bytes first-last/total`` as (first, last, total); None for anything else."""
    parts = (value or "").replace("bytes", "", 1).strip().replace("/", "-").split("-")
    try:
        first, last, total = (int(p) for p in parts)
    except ValueError:
        return None
    return first, last, total


def _resume_point(source: str, dest: Path, expected_size: int | None) -> tuple[int, dict | None]:
    """(offset, part metadata): resume only a ``.part`` of this very URL whose full size is known
    (and, when pinned, equal to the pin's); anything else is discarded and fetched from zero."""
    part, meta_file = _part(dest), _part_meta(dest)
    try:
        meta = json.loads(meta_file.read_text()) if part.is_file() else None
    except (OSError, ValueError):
        meta = None
    size = meta.get("size") if isinstance(meta, dict) and meta.get("url") == source else None
    if size is None or (expected_size is not None and size != expected_size) or part.stat().st_size > size:
        _discard_part(dest)
        return 0, None
    return part.stat().st_size, meta


def _fetch(
    source: str,
    dest: Path,
    offset: int,
    meta: dict | None,
    timeout: float,
    socket_timeout: float,
    state: dict,
    log: Callable[[str], None],
) -> bool:
    """Bring ``dest.part`` to the whole file: from ``offset`` when the source honours it, else
    from zero. ``socket_timeout`` is this attempt's (``timeout`` cut to the retry budget left);
    errors name ``timeout``, the configured one. Returns whether bytes of an earlier transfer
    were kept. Raises _Interrupted."""
    parsed = urllib.parse.urlparse(source)
    if parsed.scheme not in ("http", "https"):
        path = Path(urllib.request.url2pathname(parsed.path)) if parsed.scheme == "file" else Path(source)
        if not path.is_file():
            raise DownloadError(f"{dest.name}: source not found: {source}", url=source, cause="not found")
        st = path.stat()
        if offset and (meta.get("size"), meta.get("mtime_ns")) != (st.st_size, st.st_mtime_ns):
            log(f"{dest.name}: {source} changed since the partial copy; copying it from the start")
            offset = 0
        if not offset:
            write_text(_part_meta(dest), json.dumps({"url": source, "size": st.st_size, "mtime_ns": st.st_mtime_ns}))
        try:
            stream = open(path, "rb")
            stream.seek(offset)
        except OSError as error:
            raise _describe(error, source, timeout) from error
        with stream:
            _copy(stream, dest, offset, st.st_size, source, timeout, log)
        return offset > 0

    for _ in range(2):  # a second request, from zero, when a Range answer does not fit the part
        headers = {"User-Agent": "haframe-pipeline"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            etag = meta.get("etag")
            validator = (
                etag if etag and not etag.startswith("W/") else meta.get("last_modified")
            )  # If-Range: strong ETags only
            if validator:  # a server that has another version by now sends it whole (200)
                headers["If-Range"] = validator
        try:
            response = urllib.request.urlopen(urllib.request.Request(source, headers=headers), timeout=socket_timeout)
        except urllib.error.HTTPError as error:
            error.close()
            if error.code == 416:  # the part does not fit the file the server has now
                _discard_part(dest)
            raise _describe(error, source, timeout) from error
        except (OSError, http.client.HTTPException) as error:
            raise _describe(error, source, timeout) from error
        with response:
            length = response.headers.get("Content-Length")
            if offset and response.status == 206:
                answered = _content_range(response.headers.get("Content-Range"))
                if answered != (offset, meta["size"] - 1, meta["size"]):
                    log(
                        f"{dest.name}: asked for bytes {offset}- of {meta['size']}, got Content-Range "
                        f"{response.headers.get('Content-Range')!r}; downloading again from the start"
                    )
                    _discard_part(dest)
                    offset, meta = 0, None
                    continue
                _copy(response, dest, offset, meta["size"], source, timeout, log)
                return True
            if response.status == 206:  # a part of the file, to a request for all of it
                raise _Interrupted("HTTP 206 (a part) to a request for the whole file", False)
            if offset:
                state["range_ignored"] = True
                log(
                    f"{dest.name}: the server answered the Range request with the whole file (HTTP 200): starting "
                    "from zero"
                )
            total = int(length) if length is not None and length.isdigit() else None
            write_text(
                _part_meta(dest),
                json.dumps(
                    {
                        "url": source,
                        "size": total,
                        "etag": response.headers.get("ETag"),
                        "last_modified": response.headers.get("Last-Modified"),
                    }
                ),
            )
            _copy(response, dest, 0, total, source, timeout, log)
            return False
    raise _Interrupted("the server's Range answers do not fit the file")


def _copy(
    stream: Any, dest: Path, offset: int, total: int | None, source: str, timeout: float, log: Callable[[str], None]
) -> None:
    part = _part(dest)
    with open(part, "ab" if offset else "wb") as out:
        done, last_report = offset, time.monotonic()
        read = getattr(stream, "read1", stream.read)  # what has arrived: a stall keeps the bytes before it
        while True:
            try:
                chunk = read(1 << 20)
            except (OSError, http.client.HTTPException) as error:  # not the writes: a full disk is no network error
                raise _describe(error, source, timeout) from error
            if not chunk:
                break
            out.write(chunk)
            done += len(chunk)
            if time.monotonic() - last_report > 10:
                last_report = time.monotonic()
                log(f"{dest.name}: {done / 2**20:.0f} MiB" + (f" of {total / 2**20:.0f} MiB" if total else ""))
    if total is not None and done != total:
        raise _Interrupted(f"truncated: the connection closed after {done} of {total} bytes")


def _fetch_with_retries(
    source: str,
    dest: Path,
    expected_size: int | None,
    attempts: int,
    retry_seconds: float,
    timeout: float,
    log: Callable[[str], None],
) -> bool:
    """The retry policy. An attempt that brought new bytes is resumed at once; after one that
    brought none, the n-th in a row waits BACKOFF_BASE * 2^(n-1) s (at most BACKOFF_CAP) times a
    random factor in [0.5, 1). It gives up after ``attempts`` attempts since the last progress
    (counting the one that made it), or when the next attempt would start later than
    ``retry_seconds`` after the last progress (or the start); each later attempt's timeout is cut
    to what remains, so without progress it stops within max(retry_seconds, timeout). On giving
    up, a ``.part`` that a later run can resume is kept. Returns whether bytes of an earlier
    transfer were kept in the file."""
    part = _part(dest)
    started = last_progress = time.monotonic()
    state = {"range_ignored": False}  # set by _fetch: the server answered a Range request with the whole file
    offset, meta = _resume_point(source, dest, expected_size)
    best, tries, idle, attempt_timeout = offset, 0, 0, timeout
    for attempt in range(1, MAX_ATTEMPTS + 1):
        if meta is not None and offset == meta["size"]:
            log(f"{dest.name}: complete partial download of {source} found")
            return True
        if offset:
            log(f"{dest.name}: resuming at byte {offset} of {meta['size']}")
        try:
            return _fetch(source, dest, offset, meta, timeout, attempt_timeout, state, log)
        except _Interrupted as interruption:
            cause = interruption
        now = time.monotonic()
        size = part.stat().st_size if part.is_file() else 0
        if size > best:  # progress
            best, tries, idle, last_progress, delay = size, 1, 0, now, 0.0
        else:
            tries, idle = tries + 1, idle + 1
            delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (idle - 1)) * random.uniform(0.5, 1.0)
        remaining = last_progress + retry_seconds - (now + delay)
        if not cause.retryable or tries >= attempts or remaining <= 0:
            why = (
                "not retried"
                if not cause.retryable
                else f"gave up after {attempt} attempt{'s' * (attempt > 1)} in {now - started:.1f} s"
                f" (at most {attempts} attempts and {retry_seconds:g} s without progress)"
            )
            offset, meta = _resume_point(source, dest, expected_size)
            if offset and not state["range_ignored"]:
                why += f"; the {offset} bytes received are kept in {part.name}: the next run resumes them"
            else:
                _discard_part(dest)
            raise DownloadError(
                f"{dest.name}: cannot download {source}: {cause.cause}; {why}", url=source, cause=cause.cause
            ) from (cause.__cause__ or cause)
        log(f"{dest.name}: attempt {attempt} failed ({cause.cause}); retrying in {delay:.1f} s")
        time.sleep(delay)
        attempt_timeout = min(timeout, remaining)
        offset, meta = _resume_point(source, dest, expected_size)
    raise DownloadError(
        f"{dest.name}: cannot download {source}: {MAX_ATTEMPTS} attempts, each bringing new bytes "
        f"but never the whole file",
        url=source,
        cause="no end",
    )


def download(
    source: str,
    dest: str | os.PathLike,
    sha256: str | None = None,
    *,
    md5: str | None = None,
    pin: LockKey | None = None,
    attempts: int = 10,
    retry_seconds: float = RETRY_SECONDS,
    timeout: float = TIMEOUT_SECONDS,
    log: Callable[[str], None] = lambda message: None,
) -> Path:
    """Fetch ``source`` (http(s) URL, file:// URL or local path) to ``dest``, verified.

    Bytes go to ``dest.part`` (``dest.part.json`` says what it is part of) and are renamed onto
    ``dest`` only once complete and verified, so ``dest`` never holds a partial or wrong file.
    A ``.part`` is resumed only from the same URL, with its full size known, and only when the
    server answers the Range request with 206 and the matching Content-Range (If-Range guards
    against a file changed meanwhile); anything else starts from zero. Network errors are
    retried with exponential backoff and jitter within ``retry_seconds`` without progress and
    ``attempts`` attempts (see _fetch_with_retries); HTTP 4xx (but 408, 425, 429) and unknown
    host names fail at once. Failures raise DownloadError naming the URL and the cause.

    ``sha256`` / ``md5``: published checksums; a mismatch raises ChecksumMismatch and deletes the
    bytes. Without them, ``pin`` names the source's entry in the lock file: a pinned source must
    match its pin's sha256 and size (else ChecksumMismatch naming both, the lock file and the
    re-pin command; the bytes are kept as ``dest.rejected`` for the user to check). An unpinned
    one is a first download: ``dest.unverified.yaml`` records its sha256 and size, and the step
    that validates its content pins it (``pin_validated``) or deletes it (``reject_unverified``).
    """
    dest = Path(dest)
    published = sha256 is not None or md5 is not None
    entry = lock_entry(pin, source) if pin is not None and not published else None
    want_sha = sha256 if published else (entry or {}).get("sha256")
    want_size = None if published else (entry or {}).get("size")
    if dest.is_file():
        if _matches(dest, want_sha, want_size, md5):
            if pin is not None and not published and entry is None:
                if not _unverified(dest).is_file():
                    _record_unverified(dest, pin, source, sha256_of(dest))
                log(f"{dest.name}: present, not validated yet (no published checksum, not pinned)")
            else:
                _unverified(dest).unlink(missing_ok=True)
                log(f"{dest.name}: present and verified")
            return dest
        log(f"{dest.name}: present but not the expected file; downloading it again")
        dest.unlink()
        _unverified(dest).unlink(missing_ok=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    for first_pass in (True, False):
        resumed = _fetch_with_retries(source, dest, want_size, attempts, retry_seconds, timeout, log)
        part = _part(dest)
        size, found = part.stat().st_size, sha256_of(part)
        found_md5 = md5_of(part) if md5 is not None else None
        wrong = (
            (want_sha is not None and found != want_sha)
            or (want_size is not None and size != want_size)
            or (md5 is not None and found_md5 != md5)
        )
        if not wrong:
            break
        if resumed and first_pass:
            log(f"{dest.name}: a resumed transfer does not match the expected checksum; downloading it again from zero")
            _discard_part(dest)
            continue
        if entry is not None:
            _reject_against_pin(source, dest, pin, entry, size, found)
        _discard_part(dest)
        if sha256 is not None and found != sha256:
            raise ChecksumMismatch(
                f"{dest.name}: sha256 mismatch for {source}: expected {sha256}, found {found}",
                url=source,
                expected=sha256,
                found=found,
            )
        raise ChecksumMismatch(
            f"{dest.name}: md5 mismatch for {source}: expected {md5}, found {found_md5}",
            url=source,
            expected=md5,
            found=found_md5,
        )
    if pin is not None and not published and entry is None:
        _record_unverified(dest, pin, source, found)
    os.replace(part, dest)
    _part_meta(dest).unlink(missing_ok=True)
    log(f"{dest.name}: {size} bytes, sha256 {found}")
    if pin is not None and not published and entry is None:
        log(
            f"{dest.name}: no published checksum and not pinned yet: recorded as unverified; "
            f"pinned in {pin.lock_file} once its content is validated"
        )
    return dest


def _matches(path: Path, sha256: str | None, size: int | None, md5: str | None) -> bool:
    return (
        (size is None or path.stat().st_size == size)
        and (sha256 is None or sha256_of(path) == sha256)
        and (md5 is None or md5_of(path) == md5)
    )


def _record_unverified(dest: Path, pin: LockKey, source: str, sha256: str) -> None:
    write_yaml(
        _unverified(dest),
        {
            "lock_file": str(pin.lock_file),
            "dataset": pin.dataset,
            "source": pin.source,
            "url": source,
            "file": dest.name,
            "size": (_part(dest) if _part(dest).is_file() else dest).stat().st_size,
            "sha256": sha256,
            "downloaded": _now(),
        },
    )


def _reject_against_pin(source: str, dest: Path, pin: LockKey, entry: dict, size: int, found: str) -> None:
    """Keep the mismatching bytes as ``dest.rejected``, note them in the pin, raise ChecksumMismatch."""
    rejected = _rejected(dest)
    os.replace(_part(dest), rejected)
    _part_meta(dest).unlink(missing_ok=True)
    record = {"file": str(rejected.absolute()), "url": source, "size": size, "sha256": found, "at": _now()}

    def note(pins: dict) -> None:
        current = pin_of(pins, pin, source)
        if current is not None:
            current["rejected"] = record

    _update_lock(pin.lock_file, note)
    raise ChecksumMismatch(
        f"{dest.name}: {source} does not match its pin ({pin.dataset} {pin.source}) in {pin.lock_file}: "
        f"expected sha256 {entry['sha256']} ({entry['size']} bytes), found sha256 {found} ({size} bytes). "
        f"The download is kept as {rejected}. If you have checked it and it is the right file, re-pin it with "
        f"`{repin_command(pin, source)}` and run the workflow again (it validates the file, then pins it)",
        url=source,
        expected=entry["sha256"],
        found=found,
    )


def repin_command(pin: LockKey, url: str) -> str:
    return f"{REPIN} {pin.dataset} {pin.source} --url {shlex.quote(url)} --lock {Path(pin.lock_file).absolute()}"


# ---------------------------------------------------------------- the download lock file


def read_lock(lock_file: str | os.PathLike) -> dict[str, dict[str, dict[str, dict]]]:
    """The pins of a lock file: {dataset: {source: {url: {file, url, size, sha256, validated,
    pinned}}}}: by the source's location too, so that two studies whose dataset of one name
    downloads from two places keep a pin each. A version-2 lock (one pin per dataset and
    source) is read as the same pins, each under its url."""
    path = Path(lock_file)
    data = read_yaml(path) if path.is_file() else None
    if not data:
        return {}
    if (
        not isinstance(data, dict)
        or data.get("version") not in (2, LOCK_VERSION)
        or not isinstance(data.get("pins") or {}, dict)
    ):
        raise DownloadError(
            f"{path}: not a version-{LOCK_VERSION} download lock (version 1 pinned by file name, at first "
            f"download, without validating the file). Move it aside (mv {path} {path}.old) and run again: every "
            f"source without a published checksum is then downloaded, validated and pinned afresh; compare the "
            f"new sha256 values with the old ones if you like"
        )
    pins = data.get("pins") or {}
    if data["version"] == 2:
        return {d: {s: {entry["url"]: entry} for s, entry in sources.items()} for d, sources in pins.items()}
    return pins


def pin_of(pins: Mapping[str, Any], pin: LockKey, url: str) -> dict | None:
    """The pin of ``pin``'s dataset and source downloaded from ``url`` among ``pins``, or None."""
    return ((pins.get(pin.dataset) or {}).get(pin.source) or {}).get(url)


def lock_entry(pin: LockKey, url: str) -> dict | None:
    return pin_of(read_lock(pin.lock_file), pin, url)


_LOCK_HEADER = (
    "# Downloads with no published checksum, pinned by dataset, source and URL (sha256 and size) once\n"
    '# their content was validated (README, "Downloads"). Commit or share it to pin your copies.\n'
    f"# After checking a file that no longer matches its pin: {REPIN} <dataset> <source> [--url <url>]\n"
)


def _update_lock(lock_file: str | os.PathLike, change: Callable[[dict], Any]) -> Any:
    """Apply ``change`` to the lock file's pins under an exclusive lock; rewrite it atomically."""
    path = Path(lock_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        pins = read_lock(path)
        result = change(pins)
        pins = {
            dataset: {source: urls for source, urls in sources.items() if urls}
            for dataset, sources in pins.items()
            if any(sources.values())
        }
        write_text(path, _LOCK_HEADER + yaml.safe_dump({"version": LOCK_VERSION, "pins": pins}, sort_keys=True))
        return result
