"""Rule prepare_tiered_imagenet: tieredImageNet-H from the user's ILSVRC-2012, stretched to 224."""
from pathlib import Path

from haframe.data import tiered
from haframe.hierarchy import read_tsv
from haframe.logs import log_to

with log_to(snakemake.log[0]) as log:
    p = snakemake.params
    expected = p.expected or tiered.EXPECTED
    meta = tiered.prepare(
        Path(snakemake.input.train), Path(snakemake.input.val), Path(snakemake.input.splits),
        Path(snakemake.output[0]).parent, read_tsv(snakemake.input.hierarchy).classes,
        expected={split: tuple(n) for split, n in expected.items()},
        splits_digest=tiered.SPLITS_DIGEST if p.splits_digest == "default" else p.splits_digest,
        threads=snakemake.threads, log=log,
    )
    log(f"prepared: {meta['counts']}")
