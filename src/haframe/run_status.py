"""A run's failure record: ``failed.json`` in its run directory, written when its training or
evaluation raises, removed when that stage next succeeds.

It is deliberately not a declared output (Snakemake deletes those when a job fails). When the
workflow is built, runs with a record are left out of the default target and of the report's
inputs, so the report is built from the runs that did finish and lists the failed ones with
their error; a failed run is retried only when asked for (its record removed, or one of its
files requested by name), because a deterministic failure such as a diverged loss would only
fail again. A job that is killed (SIGKILL, a node lost) leaves no record: it resumes; nor does
a corrupt checkpoint (``checkpoints.CorruptFile``): it is moved aside, and the run trains again.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from .checkpoints import CorruptFile
from .fileio import read_json, write_json

FAILED_FILE = "failed.json"


@contextlib.contextmanager
def recorded_failure(run_dir: str | Path, stage: str) -> Iterator[None]:
    """Record an exception escaping the block in ``run_dir/failed.json`` (then re-raise it);
    clear an older record when the block succeeds."""
    record = Path(run_dir) / FAILED_FILE
    try:
        yield
    except CorruptFile:
        raise  # a damaged file, moved aside: not the run's failure
    except Exception as error:
        write_json(
            record,
            {"stage": stage, "error": f"{type(error).__name__}: {error}", "time": time.strftime("%Y-%m-%d %H:%M:%S")},
        )
        raise
    record.unlink(missing_ok=True)


def failures(run_dirs: Iterable[str | Path]) -> dict[str, dict]:
    """{run directory: its failure record} for the directories that have one."""
    found = {}
    for run_dir in map(Path, run_dirs):
        record = run_dir / FAILED_FILE
        if record.is_file():
            found[str(run_dir)] = read_json(record)
    return found
