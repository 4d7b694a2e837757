"""The console of a running study (issue 26): one line per job, none per finished job or step,
and a line per finished run with the time left (haframe.console, haframe.progress)."""

import logging
import os
import time

from snakemake.logging import DefaultFormatter
from snakemake_interface_logger_plugins.common import LogEvent

from haframe.console import CompactConsole, install_compact_console, job_label
from haframe.progress import run_progress


def record(event: LogEvent, **fields) -> logging.LogRecord:
    entry = logging.LogRecord("snakemake.logging", logging.INFO, __file__, 1, "", None, None)
    entry.__dict__.update(event=event, **fields)
    return entry


def test_a_job_is_one_line_named_as_the_study_names_its_runs():
    console = CompactConsole()
    line = console.format(
        record(LogEvent.JOB_INFO, rule_name="train", wildcards={"dataset": "d", "variant": "v", "seed": "1"})
    )
    assert line.endswith("] train d/v/seed1") and "\n" not in line
    assert job_label({"dataset": "d", "variant": "v", "seed": "0", "chain": "crm"}) == "d/v/seed0 +crm"
    assert job_label({"filename": "tree.pkl"}) == "filename=tree.pkl"


def test_finished_jobs_and_intermediate_steps_print_nothing_and_the_last_step_stays(capsys):
    logger = logging.getLogger("haframe-test-console-lines")
    handler = logging.StreamHandler()
    handler.setFormatter(DefaultFormatter())
    logger.handlers, logger.propagate = [handler], False
    install_compact_console(logger)
    for entry in (
        record(LogEvent.JOB_FINISHED, msg="Finished jobid: 3"),
        record(LogEvent.PROGRESS, done=3, total=12),
        record(LogEvent.PROGRESS, done=12, total=12),
    ):
        logger.handle(entry)
    assert capsys.readouterr().err == "12 of 12 steps (100%) done\n"  # no empty line for a dropped one


def test_a_dry_run_keeps_snakemake_s_blocks():
    console = CompactConsole(active=lambda: False)
    assert console.keep(record(LogEvent.PROGRESS, done=3, total=12))
    assert console.format(record(LogEvent.PROGRESS, done=3, total=12)) == "3 of 12 steps (25%) done"


def test_only_snakemake_s_console_formatters_are_replaced():
    logger = logging.getLogger("haframe-test-console")
    ours, other = logging.StreamHandler(), logging.StreamHandler()
    ours.setFormatter(DefaultFormatter(quiet={"reason"}))
    other.setFormatter(logging.Formatter("%(message)s"))
    logger.handlers = [ours, other]
    install_compact_console(logger)
    assert isinstance(ours.formatter, CompactConsole) and ours.formatter.quiet == {"reason"}
    assert type(other.formatter) is logging.Formatter


def test_a_finished_run_says_how_far_the_study_is_and_the_time_left(tmp_path):
    markers = [tmp_path / f"run{i}.json" for i in range(4)]
    started = time.time() - 60
    markers[0].write_text("{}")
    os.utime(markers[0], (started - 3600, started - 3600))  # done before this invocation
    markers[1].write_text("{}")  # done in it: 1 run a minute
    line = run_progress("d/v/seed1", 57.4, markers, started)
    assert line.startswith("run 2/4 done (d/v/seed1, 57 s); about ")
    assert line.endswith(" min left") and 1.5 <= float(line.split("about ")[1].split()[0]) <= 2.5
    for marker in markers:
        marker.write_text("{}")
    assert run_progress("d/v/seed3", 3_700, markers, started) == "run 4/4 done (d/v/seed3, 62 min)"
