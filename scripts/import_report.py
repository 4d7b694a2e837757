"""Rule import_report: the report's tables and figures as one MLflow run (single writer)."""

from haframe.fileio import write_json
from haframe.logs import log_to
from haframe.tracking import import_report

with log_to(snakemake.log[0]) as log:
    p = snakemake.params
    marker = import_report(list(snakemake.input), p.tracking_uri, p.experiment, failed=p.failed_runs)
    write_json(snakemake.output.marker, marker)
    log(f"MLflow report run {marker['run_id']} with {marker['files']} files")
    for name in p.failed_runs:
        log(f"{name}: failed; its MLflow run, if any was FINISHED, is marked FAILED")
