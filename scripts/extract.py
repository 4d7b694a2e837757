"""Rule extract_source: unpack an archive with the project's checked extraction."""
from haframe.io import safe_extract
from haframe.logs import log_to

with log_to(snakemake.log[0]) as log:
    safe_extract(snakemake.input[0], snakemake.output[0])
    log(f"extracted {snakemake.input[0]} -> {snakemake.output[0]}")
