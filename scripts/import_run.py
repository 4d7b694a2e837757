"""Rule import_run: index one finished run directory in MLflow (single writer)."""
from pathlib import Path

from haframe.io import write_json
from haframe.logs import log_to
from haframe.tracking import import_run

with log_to(snakemake.log[0]) as log:
    p = snakemake.params
    marker = import_run(Path(snakemake.input.config).parent, p.tracking_uri, p.experiment)
    write_json(snakemake.output.marker, marker)
    log(f"MLflow run {marker['run_id']} for {marker['identity']} ({p.tracking_uri})")
