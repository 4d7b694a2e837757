"""Rule prepare_cifar100: 45,000 / 5,000 / 10,000 split into the arrays layout."""
from pathlib import Path

from haframe.data import cifar
from haframe.hierarchy import read_tsv
from haframe.logs import log_to

with log_to(snakemake.log[0]) as log:
    expected = snakemake.params.expected or cifar.EXPECTED
    meta = cifar.prepare(
        Path(snakemake.input.extracted), Path(snakemake.output[0]).parent,
        read_tsv(snakemake.input.hierarchy).classes,
        expected={split: tuple(n) for split, n in expected.items()}, log=log,
    )
    log(f"prepared: {meta['counts']}")
