"""Rule prepare_synthetic: generate the planted-hierarchy dataset into the prepared layout."""
from pathlib import Path

from haframe.data.synthetic import prepare
from haframe.logs import log_to

with log_to(snakemake.log[0]) as log:
    meta = prepare(dict(snakemake.params.spec), Path(snakemake.output[0]).parent)
    log(f"synthetic dataset: {meta['num_classes']} classes, images per split {meta['counts']}")
