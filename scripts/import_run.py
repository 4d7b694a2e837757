"""Rule import_run: index one finished run in MLflow (single writer)."""

from haframe.fileio import read_yaml, write_json
from haframe.logs import log_to
from haframe.progress import run_progress
from haframe.tracking import import_run

with log_to(snakemake.log[0]) as log:
    i, p = snakemake.input, snakemake.params
    marker = import_run(
        config=i.config,
        history=i.history,
        nc=i.nc,
        metrics=i.get("metrics"),
        scores=[path for name, path in i.items() if name.startswith("scores_")],  # those the study keeps
        tracking_uri=p.tracking_uri,
        experiment=p.experiment,
    )
    write_json(snakemake.output.marker, marker)
    log(f"MLflow run {marker['run_id']} for {marker['identity']} ({p.tracking_uri})")
    times = read_yaml(i.config)["provenance"]
    trained = times["finished_at"] - times["started_at"]
    log(run_progress(marker["identity"], trained, p.progress["markers"], p.progress["started_at"]), console=True)
