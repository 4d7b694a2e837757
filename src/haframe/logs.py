"""Rule logs: timestamped lines to the rule's log file and to stderr."""

from __future__ import annotations

import contextlib
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path


@contextlib.contextmanager
def log_to(path: str | Path) -> Iterator[Callable[[str], None]]:
    """Yield a ``log(message)`` that appends timestamped lines to ``path`` and stderr.

    An exception escaping the block is written to the log with its traceback, then re-raised.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", buffering=1) as handle:

        def log(message: str) -> None:
            line = f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] {message}"
            handle.write(line + "\n")
            print(line, file=sys.stderr, flush=True)

        try:
            yield log
        except BaseException:
            handle.write(traceback.format_exc())
            raise
