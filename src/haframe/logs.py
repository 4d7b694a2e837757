"""Rule logs: timestamped lines to the rule's log file, and those a user should see as they
happen to stderr, the console (a download's progress, a file moved aside, a run done); the rest
(a line per epoch, say) stays in the log, which a failure's message names (haframe.console)."""

from __future__ import annotations

import contextlib
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path


@contextlib.contextmanager
def log_to(path: str | Path, console: bool = False) -> Iterator[Callable[..., None]]:
    """Yield a ``log(message, console=None)`` that appends timestamped lines to ``path`` and,
    with ``console`` (None: the block's), to stderr.

    An exception escaping the block is written to the log with its traceback, then re-raised.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    block_console = console
    with open(path, "a", buffering=1) as handle:

        def log(message: str, console: bool | None = None) -> None:
            line = f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] {message}"
            handle.write(line + "\n")
            if console or (console is None and block_console):
                print(line, file=sys.stderr, flush=True)

        try:
            yield log
        except BaseException:
            handle.write(traceback.format_exc())
            raise
