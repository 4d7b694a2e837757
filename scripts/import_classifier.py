"""Rule import_classifier: index one pretrained classifier's evaluation in MLflow (single writer)."""

from haframe.fileio import write_json
from haframe.logs import log_to
from haframe.tracking import import_classifier

with log_to(snakemake.log[0]) as log:
    p = snakemake.params
    marker = import_classifier(
        metrics=snakemake.input.metrics,
        dataset=snakemake.wildcards.dataset,
        tracking_uri=p.tracking_uri,
        experiment=p.experiment,
    )
    write_json(snakemake.output.marker, marker)
    log(f"MLflow run {marker['run_id']} for {marker['identity']} ({p.tracking_uri})")
