"""Rules prepare_dataset, prepare_synthetic: a dataset kind's preparation into results/{dataset}/data/."""

from pathlib import Path

from haframe.data.kinds import KINDS, PrepareJob
from haframe.data.pixels import store_pixels
from haframe.hierarchy import read_tsv
from haframe.logs import log_to
from haframe.pins import pin_validated

with log_to(snakemake.log[0], console=True) as log:  # progress a user waits on
    inputs = {key: Path(path) for key, path in snakemake.input.items() if key != "hierarchy"}
    hierarchy = snakemake.input.get("hierarchy")  # absent for a kind that plants its own
    job = PrepareJob(
        dataset=snakemake.wildcards.dataset,
        options=snakemake.params.options,
        inputs=inputs,
        hierarchy=read_tsv(hierarchy) if hierarchy else None,
        meta_file=Path(snakemake.output.meta),
        threads=snakemake.threads,
        log=log,
    )
    meta = KINDS[snakemake.params.kind].prepare(job)
    if snakemake.params.options.get("store") == "pixels":
        meta = store_pixels(job.meta_file, threads=job.threads, log=log)
    log(f"prepared {meta['num_classes']} classes: {meta['counts']}")
    # sources without a published checksum are pinned now: extracted completely, counts checked
    for download in snakemake.params.get("downloads", []):
        pin_validated(download, f"extracted completely; the prepared counts {meta['counts']} passed the check", log)
