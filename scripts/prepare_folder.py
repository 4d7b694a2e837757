"""Rule prepare_folder: a user's train/val/test/<class>/ image folder into the images layout."""
from pathlib import Path

from haframe.data import folder
from haframe.hierarchy import read_tsv
from haframe.logs import log_to

with log_to(snakemake.log[0]) as log:
    p = snakemake.params
    meta = folder.prepare(
        Path(snakemake.input.folder), Path(snakemake.output[0]).parent, read_tsv(snakemake.input.hierarchy).classes,
        transform=p.transform, size=p.resize, input_size=p.input_size, threads=snakemake.threads, log=log,
    )
    log(f"prepared: {meta['counts']}")
