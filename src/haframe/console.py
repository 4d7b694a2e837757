"""What a running study prints: one line per job started and one per run done, with the time
left, instead of Snakemake's block of inputs, outputs and reasons per job and its "finished" and
"steps done" lines (a dry run and ``--verbose`` keep Snakemake's blocks: they say why each job
would run).

``CompactConsole`` replaces the formatter of Snakemake's console handler (the Snakefile installs
it, active in a run, not in a dry run or with ``--verbose``; the log file under
``.snakemake/log`` keeps everything). The line per run is ``haframe.progress``'s. Only the
Snakefile imports this module (it needs Snakemake).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping

from snakemake.logging import DefaultFormatter, get_event
from snakemake_interface_logger_plugins.common import LogEvent


def job_label(wildcards: Mapping[str, str]) -> str:
    """A job's wildcards as the study names its runs (``synthetic/haframe/seed0``, a chain after
    a ``+``), else ``key=value``."""
    if {"dataset", "variant", "seed"} <= set(wildcards):
        name = f"{wildcards['dataset']}/{wildcards['variant']}/seed{wildcards['seed']}"
        return name + (f" +{wildcards['chain']}" if "chain" in wildcards else "")
    return ", ".join(f"{key}={value}" for key, value in wildcards.items())


SCHEDULING = re.compile(r"Select jobs to execute\.\.\.|Execute \d+ jobs\.\.\.")  # the scheduler's every round


class CompactConsole(DefaultFormatter):
    """Snakemake's console formatter with one line per job; ``keep``, the console handler's
    filter, drops the per-job "finished", per-step progress and scheduling lines (the last
    step, "N of N steps (100%) done", stays; a dropped record prints not even an empty line);
    errors unchanged."""

    def __init__(self, *args, active: Callable[[], bool] = lambda: True, **kwargs):
        super().__init__(*args, **kwargs)
        self.active = active  # asked at each record: a dry run is known only once the DAG runs

    def format(self, record: logging.LogRecord) -> str:
        if self.active() and get_event(record) == LogEvent.JOB_INFO:
            wildcards = dict(getattr(record, "wildcards", None) or {})
            return f"[{time.strftime('%H:%M:%S')}] {record.rule_name} {job_label(wildcards)}".rstrip()
        return super().format(record)

    def keep(self, record: logging.LogRecord) -> bool:
        if not self.active():
            return True
        event = get_event(record)
        if event == LogEvent.JOB_FINISHED or SCHEDULING.match(record.getMessage() or ""):
            return False
        return not (event == LogEvent.PROGRESS and record.done != record.total)


def install_compact_console(logger: logging.Logger, active: Callable[[], bool] = lambda: True) -> None:
    """Use ``CompactConsole`` on Snakemake's console handler(s), with their quiet settings,
    while ``active()`` (the Snakefile: not in a dry run)."""
    for handler in logger.handlers:
        formatter = handler.formatter
        if isinstance(formatter, DefaultFormatter) and not isinstance(formatter, CompactConsole):
            compact = CompactConsole(formatter.quiet, formatter.show_failed_logs, active=active)
            handler.setFormatter(compact)
            handler.addFilter(compact.keep)
