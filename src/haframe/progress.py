"""The line a finished run prints: how far the study is and how long the rest will take,
from the runs done in this invocation (``haframe.console`` keeps the rest of the console short)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path


def format_duration(seconds: float) -> str:
    return (
        f"{seconds:.0f} s"
        if seconds < 90
        else f"{seconds / 60:.0f} min"
        if seconds < 5400
        else f"{seconds / 3600:.1f} h"
    )


def run_progress(name: str, trained_seconds: float, markers: Sequence[str | Path], started_at: float) -> str:
    """``run 7/12 done (synthetic/haframe/seed1, 57 s); about 3 min left``: ``markers``, every
    run's MLflow marker (those that exist are done), ``started_at``: when this invocation began
    (the runs done since give the rate of the rest)."""
    done = [Path(marker) for marker in markers if Path(marker).exists()]
    since = [marker for marker in done if marker.stat().st_mtime >= started_at]
    line = f"run {len(done)}/{len(markers)} done ({name}, {format_duration(trained_seconds)})"
    left = len(markers) - len(done)
    if left and since:
        line += f"; about {format_duration(left * (time.time() - started_at) / len(since))} left"
    return line
