"""One writer per run, and no orphans.

A job that trains or evaluates a run holds an exclusive POSIX record lock (``fcntl.lockf``) on
``<run dir>/resume/writer.lock`` for its whole life. The kernel releases it when the process
dies, kill -9 included, so a killed job never leaves a stale lock. POSIX record locks are
honoured across the nodes of a shared filesystem with network locking (NFSv4; NFSv3 with
lockd; Lustre/BeeGFS mounted with their lock option); on a filesystem without it the lock only
covers one node, which is why README tells SLURM users to ``scancel`` a study's jobs before
rerunning it. A second job waits up to ``WAIT_SECONDS`` for the lock, then fails naming the
process that holds it (the holder writes its pid, host and start time into the file).

A job also follows the Snakemake process that started it: when that process is gone (killed,
its terminal closed), the job stops itself within ``FOLLOW_SECONDS``, so the usual recovery
(``snakemake --unlock``, run again) finds no orphan still training. The job is stopped as a
kill would stop it: a training run resumes from its last completed epoch.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

LOCK_FILE = "writer.lock"
WAIT_SECONDS = 120.0  # an orphan that follows its dead parent stops within FOLLOW_SECONDS
FOLLOW_SECONDS = 0.5  # how often a job checks that its Snakemake process is alive (a read of /proc)


class RunBusy(RuntimeError):
    """Another live process is writing the run."""


def _holder(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    try:
        info = json.loads(os.read(fd, 4096) or b"{}")
    except ValueError:
        info = {}
    if not info:
        return "a process that has not yet written its name"
    return f"pid {info['pid']} on {info['host']}, since {info['since']}"


@contextlib.contextmanager
def exclusive_run(
    run_dir: str | Path, name: str, *, wait_seconds: float = WAIT_SECONDS, log: Callable[[str], None] = print
) -> Iterator[None]:
    """Hold the run's writer lock for the block; wait at most ``wait_seconds`` for it."""
    path = Path(run_dir) / "resume" / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        deadline, waiting = time.monotonic() + wait_seconds, False
        while True:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as error:
                if error.errno not in (errno.EACCES, errno.EAGAIN):
                    raise
            holder = _holder(fd)
            if time.monotonic() >= deadline:
                raise RunBusy(
                    f"{name}: another job is writing this run ({holder}); waited {wait_seconds:.0f} s for it. An "
                    "orphan "
                    f"of a killed Snakemake stops by itself within seconds; otherwise stop that job (kill, or scancel "
                    f"on SLURM) and run again"
                ) from None
            if not waiting:
                log(f"{name}: waiting for the job already writing this run ({holder})")
                waiting = True
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
        os.ftruncate(fd, 0)
        os.pwrite(
            fd,
            json.dumps(
                {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
            ).encode(),
            0,
        )
        if waiting:
            log(f"{name}: the other job is gone; this job writes the run now")
        yield
    finally:
        os.close(fd)  # releases the lock


def _process(pid: int) -> tuple[int, str, list[str]] | None:
    """(parent pid, start time, argv) of a live process, from /proc (None if gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
    return int(fields[1]), fields[19], argv


def snakemake_ancestor() -> tuple[int, str] | None:
    """(pid, start time) of the nearest ancestor process running Snakemake (None: none, or no /proc)."""
    pid = os.getppid()
    while pid > 1:
        process = _process(pid)
        if process is None:
            return None
        parent, started, argv = process
        if any(Path(arg).name == "snakemake" for arg in argv[:2]):  # `snakemake ...` or `python .../snakemake ...`
            return pid, started
        pid = parent
    return None


def follow_snakemake(log: Callable[[str], None] = print, every: float = FOLLOW_SECONDS) -> None:
    """Stop this process (SIGTERM to itself) once the Snakemake process that started it is gone
    (a daemon thread polls /proc; a no-op where there is no such ancestor)."""
    ancestor = snakemake_ancestor()
    if ancestor is None:
        return
    pid, started = ancestor

    def watch() -> None:
        while True:
            time.sleep(every)
            process = _process(pid)
            if process is None or process[1] != started:  # gone, or its pid reused
                log(f"the Snakemake process that started this job (pid {pid}) is gone: stopping")
                os.kill(os.getpid(), signal.SIGTERM)
                return

    threading.Thread(target=watch, name="follow-snakemake", daemon=True).start()
