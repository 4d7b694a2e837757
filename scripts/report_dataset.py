"""Rule report_dataset: the dataset's main table (md, tex, csv) and figures (png, svg)."""
from pathlib import Path

from haframe.logs import log_to
from haframe.stages import report_dataset

with log_to(snakemake.log[0]) as log:
    rows = report_dataset(
        snakemake.wildcards.dataset, list(snakemake.params.variants),
        [Path(path).parent for path in snakemake.input.metrics], snakemake.input.distances,
        Path(snakemake.output.md).parent, Path(snakemake.output.figure).parent,
    )
    log(f"{len(rows)} table rows from {len(snakemake.input.metrics)} runs")
