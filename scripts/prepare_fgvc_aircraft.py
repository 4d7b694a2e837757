"""Rule prepare_fgvc_aircraft: official splits, copyright banner cropped, images layout."""
from pathlib import Path

from haframe.data import fgvc
from haframe.hierarchy import read_tsv
from haframe.logs import log_to

with log_to(snakemake.log[0]) as log:
    expected = snakemake.params.expected or fgvc.EXPECTED
    meta = fgvc.prepare(
        Path(snakemake.input.extracted), Path(snakemake.output[0]).parent,
        read_tsv(snakemake.input.hierarchy).classes,
        expected={split: tuple(n) for split, n in expected.items()}, threads=snakemake.threads, log=log,
    )
    log(f"prepared: {meta['counts']}")
