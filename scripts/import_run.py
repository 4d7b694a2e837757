"""Rule import_run: index one finished run in MLflow (single writer)."""

from haframe.fileio import write_json
from haframe.logs import log_to
from haframe.tracking import import_run

with log_to(snakemake.log[0]) as log:
    i, p = snakemake.input, snakemake.params
    marker = import_run(
        config=i.config,
        history=i.history,
        nc=i.nc,
        metrics=i.get("metrics"),
        tracking_uri=p.tracking_uri,
        experiment=p.experiment,
    )
    write_json(snakemake.output.marker, marker)
    log(f"MLflow run {marker['run_id']} for {marker['identity']} ({p.tracking_uri})")
