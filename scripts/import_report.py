"""Rule import_report: the report's tables and figures as one MLflow run (single writer)."""

from haframe.fileio import write_json
from haframe.logs import log_to
from haframe.tracking import import_report

with log_to(snakemake.log[0]) as log:
    marker = import_report(list(snakemake.input), snakemake.params.tracking_uri, snakemake.params.experiment)
    write_json(snakemake.output.marker, marker)
    log(f"MLflow report run {marker['run_id']} with {marker['files']} files")
