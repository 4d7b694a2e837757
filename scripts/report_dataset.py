"""Rule report_dataset: the dataset's table (md, tex, csv) and error-vs-severity figure."""
from pathlib import Path

from haframe.io import read_json
from haframe.logs import log_to
from haframe.report import write_dataset_report

with log_to(snakemake.log[0]) as log:
    results = [read_json(path) for path in snakemake.input.metrics]
    rows = write_dataset_report(
        results, list(snakemake.params.variants), snakemake.wildcards.dataset,
        Path(snakemake.output.md).parent, snakemake.output.figure,
    )
    log(f"{len(rows)} table rows from {len(results)} runs")
