"""haframe.run_lock with real processes: one writer per run, released when its holder dies, and
jobs that stop when the Snakemake process that started them is gone."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from haframe.run_lock import RunBusy, exclusive_run

HOLD = textwrap.dedent("""
    import sys, time
    from haframe.run_lock import exclusive_run
    with exclusive_run(sys.argv[1], "synthetic/haframe/seed0", log=lambda m: None):
        print("locked", flush=True)
        time.sleep(60)
""")


def holder(run_dir) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "locked"
    return process


def test_a_second_writer_waits_then_fails_naming_the_first(tmp_path):
    first = holder(tmp_path)
    try:
        messages = []
        started = time.monotonic()
        with pytest.raises(
            RunBusy, match=rf"synthetic/haframe/seed0: another job is writing this run \(pid {first.pid} on "
        ):
            with exclusive_run(tmp_path, "synthetic/haframe/seed0", wait_seconds=1.0, log=messages.append):
                pass
        assert 1.0 <= time.monotonic() - started < 5.0
        assert messages == [
            f"synthetic/haframe/seed0: waiting for the job already writing this run (pid {first.pid} on "
            f"{os.uname().nodename}, since {messages[0].split('since ')[1]}"
        ]
    finally:
        first.kill()
        first.wait()


def test_the_lock_is_released_when_its_holder_is_killed(tmp_path):
    first = holder(tmp_path)
    messages = []
    killer = subprocess.Popen([sys.executable, "-c", f"import os, time; time.sleep(1); os.kill({first.pid}, 9)"])
    with exclusive_run(tmp_path, "run", wait_seconds=30.0, log=messages.append):
        assert first.wait(timeout=10) == -signal.SIGKILL
    killer.wait()
    assert messages[-1] == "run: the other job is gone; this job writes the run now"


FAKE_SNAKEMAKE = textwrap.dedent("""
    import subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-c", sys.argv[1]])
    print(child.pid, flush=True)
    time.sleep(60)
""")
JOB = textwrap.dedent("""
    import time
    from haframe.run_lock import follow_snakemake
    follow_snakemake(log=lambda m: None, every=0.2)
    time.sleep(60)
""")


def test_a_job_stops_when_the_snakemake_process_that_started_it_dies(tmp_path):
    snakemake = tmp_path / "snakemake"  # what follow_snakemake looks for: a process running `snakemake`
    snakemake.write_text(FAKE_SNAKEMAKE)
    parent = subprocess.Popen([sys.executable, str(snakemake), JOB], stdout=subprocess.PIPE, text=True)
    job = int(parent.stdout.readline())
    time.sleep(0.5)
    assert os.path.exists(f"/proc/{job}")
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{job}") and open(f"/proc/{job}/stat").read().split()[2] != "Z":
        assert time.monotonic() < deadline, "the orphaned job kept running"
        time.sleep(0.1)
