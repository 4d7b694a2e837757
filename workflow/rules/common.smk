# The compiled study (haframe.study.Study.compile: every job with its resolved parameters and
# files) and the few functions through which the rule files read it.
import atexit
import logging
import re
import sys
import time
from pathlib import Path

import yaml
from snakemake.io import IOFile
from snakemake.logging import logger

from haframe.assets import FRAME_FILES, HIERARCHY_FILES
from haframe.console import install_compact_console
from haframe.cost import THROUGHPUT_FILE
from haframe.data.prepared import DataError
from haframe.identity import Untracked
from haframe.jobs import kept_params
from haframe.runs import ConfigError
from haframe.study import Study
from haframe.summary import study_summary

try:
    STUDY = Study(config)
    # the files the config names (local hierarchies, sources) are checked where the jobs are
    # submitted: a cluster job re-reading this file need not see them
    if workflow.is_main_process:
        STUDY.check_local_files()
except ConfigError as error:
    raise WorkflowError(f"invalid configuration: {error}") from None


def report_file_folder(argv):
    """`snakemake --report <file>` writes its file once the DAG is built, into a folder that a
    fresh study has not made yet: made here (Snakemake's settings are not visible to a Snakefile).
    """
    for i, arg in enumerate(argv):
        path = arg.split("=", 1)[1] if arg.startswith("--report=") else None
        if arg == "--report" and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
            path = argv[i + 1]
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)


class NotBuiltYet(logging.Filter):
    """Drops `--report`'s "Missing metadata" warning for a file that does not exist yet (one
    line per output of every job not run: thousands on a fresh study); one for a file that
    exists (its record lost) stays."""

    def filter(self, record):
        message = record.getMessage()
        if message.startswith("Missing metadata for file "):
            path = message.removeprefix("Missing metadata for file ").split(
                ". Maybe", 1
            )[0]
            return Path(path).exists()
        return True


if workflow.is_main_process:
    report_file_folder(sys.argv)
    logger.addFilter(NotBuiltYet())
    # a dry run (known only once it runs) and --verbose keep Snakemake's per-job blocks
    install_compact_console(
        logger,
        active=lambda: not (workflow.dryrun or workflow.output_settings.verbose),
    )

STARTED_AT = time.time()  # this invocation's start (haframe.progress)


def recorded_params(path):
    """The params Snakemake recorded for the job that wrote ``path`` (their reprs; None: none)."""
    return workflow.persistence.params(IOFile(path))


try:  # a dataset's user inputs that are set but wrong stop the build with the kind's words
    TABLE = STUDY.compile()
except DataError as error:
    raise WorkflowError(str(error)) from None

# the runs this invocation targets (a failed run, left out, is not waited for): haframe.progress
IMPORT_MARKERS = sorted(
    set(job.outputs[0] for job in TABLE.of("import_run")) & set(TABLE.targets)
)

LAYOUT = STUDY.layout
RESULTS, REPORT_DIR, DATA_ROOT = LAYOUT.results, LAYOUT.report_dir, LAYOUT.data_root
DATASET_DIR, RUN_DIR = LAYOUT.dataset_dir(), LAYOUT.run_dir()
# Each rule's --sdm conda env, by need (envs/*.yaml say which rules and why); only
# ENV_TORCH carries torch.
ENV_DATA = "../../envs/data.yaml"  # downloads, extraction, hierarchy, frames
ENV_REPORT = "../../envs/report.yaml"  # tables and figures
ENV_TRACKING = "../../envs/tracking.yaml"  # MLflow imports
ENV_TORCH = "../../envs/torch.yaml"  # prepare, train, evaluate
# measured training rates, for the dry run's GPU-hours (haframe.cost)


def scores_file(split, trial):
    """A split's scores: kept, or temp() (deleted once the chains and metrics read them) where
    the study's `scores` setting does not keep them."""
    path = LAYOUT.run_file(f"scores_{split}")
    return path if split in STUDY.kept_scores(trial) else temp(path)


def seeds_of(rule):
    """A pattern of the seeds of the rule's jobs: the evaluate rules split the runs by seed
    (a tuned protocol's trials keep fewer scores: rules/evaluate.smk)."""
    return "|".join(sorted({job.wildcards["seed"] for job in TABLE.of(rule)})) or "^$"


wildcard_constraints:
    dataset="|".join(STUDY.datasets),
    variant="|".join([*config["variants"], *STUDY.auxiliary_variants()]) or "^$",
    seed=r"\d+",
    model="|".join(
        re.escape(m) for m in (STUDY.pretrained.models if STUDY.pretrained else ())
    )
    or "^$",
    chain="|".join(
        sorted({re.escape(job.wildcards["chain"]) for job in TABLE.of("posthoc")})
    )
    or "^$",


def job(rule):
    """An input function: the table's job of ``rule`` for the wildcards Snakemake matched."""

    def lookup(wildcards):
        try:
            return TABLE.job(rule, wildcards)
        except KeyError as error:
            raise WorkflowError(error.args[0]) from None

    return lookup


def job_inputs(rule):
    return lambda wildcards: dict(job(rule)(wildcards).inputs)


_KEPT_PARAMS = (
    {}
)  # job key -> its params (Snakemake asks for each param of a job in turn)


def job_param(rule, key):
    """The job's param, as recorded for its finished job while that means the same
    (haframe.jobs.kept_params: Snakemake's record is read once per job)."""

    def param(wildcards):
        found = job(rule)(wildcards)
        if found.key not in _KEPT_PARAMS:
            _KEPT_PARAMS[found.key] = kept_params(STUDY, found, recorded_params)
        return _KEPT_PARAMS[found.key][key]

    return param


def job_resource(rule, key):
    return lambda wildcards: job(rule)(wildcards).resources[key]


def datasets_planting_hierarchy(plants=True):
    """A wildcard pattern: the datasets whose preparation plants their hierarchy (or, with
    ``plants=False``, that read one from their ``hierarchy`` source); matches nothing if none.
    """
    names = [d for d in STUDY.datasets if STUDY.plants_hierarchy(d) == plants]
    return "|".join(names) or "^$"


CAPTIONS = Path(workflow.basedir) / "report"
GALLERY = yaml.safe_load((CAPTIONS / "gallery.yaml").read_text())


def gallery_file(entry, dataset=None):
    """The file a gallery entry names (workflow/report/gallery.yaml) by its declared key; None
    for a file the study does not write (the tuned protocol's tables in a published study).
    """
    if "hierarchy" in entry:
        return LAYOUT.hierarchy_file(entry["hierarchy"], dataset)
    if "frames" in entry:
        return LAYOUT.frame_file(entry["frames"], dataset)
    outputs = LAYOUT.dataset_report(dataset) if dataset else LAYOUT.study_report()
    return outputs.get(entry["report"])


def gallery_entries(scope):
    """(entry, {category: file}) of the gallery's `dataset` or `study` entries: a dataset's
    category is its name (the datasets left out have none), the study's "study"."""
    for entry in GALLERY[scope]:
        if scope == "study":
            files = {"study": gallery_file(entry)}
        else:
            files = {
                d: gallery_file(entry, d)
                for d in STUDY.datasets
                if d not in TABLE.left_out
            }
        files = {category: path for category, path in files.items() if path is not None}
        if files:
            yield entry, files


def built_everywhere(files):
    return all(Path(path).exists() for path in files.values())


def flagged(path, entry, category):
    flag = report  # (a line may not start with `report`: Snakemake reads it as its directive)
    return flag(
        path,
        caption=str(CAPTIONS / entry["caption"]),
        category=category,
        subcategory=entry.get("subcategory"),
        labels=entry["labels"],
    )


def gallery_outputs(outputs, stage, scope="dataset"):
    """A rule's outputs ({key: pattern}), its gallery entries (their `stage` key) flagged for
    `--report`, so that the report credits this rule with them, where the file is built for
    every dataset: a flagged output that does not exist fails the whole report."""
    flags = {
        key: flagged(
            outputs[key], entry, "{dataset}" if scope == "dataset" else "study"
        )
        for entry, files in gallery_entries(scope)
        if (key := entry.get(stage)) in outputs and built_everywhere(files)
    }
    return {**outputs, **flags}


def report_gallery():
    """The gallery's files that exist but are not built for every dataset yet, flagged for
    `--report` as inputs of the default target, which the report then credits with them. A
    file not built is left out, so `snakemake --report` works at any point of a study, a fresh
    clone included (statistics only)."""
    return [
        flagged(path, entry, category)
        for scope in ("dataset", "study")
        for entry, files in gallery_entries(scope)
        if not built_everywhere(files)
        for category, path in files.items()
        if Path(path).exists()
    ]


def _warn_and_summarise():
    """Datasets left out, runs that failed before, a SLURM profile still unedited; and with
    --dry-run, the study's summary (runs, GPU-hours, disk) once the plan is printed."""
    failed = STUDY.recorded_failures()
    for dataset, reason in TABLE.left_out.items():
        logger.warning(
            f"dataset {dataset!r} is left out of this run: {reason}. The report lists it as not run."
        )
    if failed:
        logger.warning(
            f"{len(failed)} run(s) failed before and are left out (the report lists them; "
            f"to retry one, delete its failed.json): {', '.join(sorted(failed))}"
        )
    default_resources = workflow.resource_settings.default_resources
    placeholders = [
        arg for arg in getattr(default_resources, "args", None) or [] if "YOUR_" in arg
    ]
    notes = []
    if placeholders:
        notes.append(
            f"the SLURM profile still has its placeholders ({', '.join(placeholders)}): set "
            "slurm_partition and slurm_account in profiles/slurm/config.yaml (`sinfo -s`, "
            "`sacctmgr -n -s list user $USER format=account`) before submitting"
        )
    notes += STUDY.advice()
    for note in notes:
        logger.warning(note)

    def summary():
        if workflow.dryrun:
            print(file=sys.stderr)
            print(
                study_summary(
                    STUDY, dict(TABLE.left_out), failed, THROUGHPUT_FILE, notes
                ),
                file=sys.stderr,
            )

    atexit.register(summary)


if workflow.is_main_process:
    _warn_and_summarise()
