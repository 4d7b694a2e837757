"""Rule extract_source: unpack an archive with the project's checked extraction; an unverified
download (no published checksum, not pinned yet) that is not a complete archive is deleted."""

from haframe.archives import ArchiveError, safe_extract
from haframe.logs import log_to
from haframe.pins import reject_unverified

with log_to(snakemake.log[0], console=True) as log:  # progress a user waits on
    try:
        safe_extract(snakemake.input[0], snakemake.output[0])
    except ArchiveError as error:
        reject_unverified(snakemake.input[0], str(error), log)
        raise
    log(f"extracted {snakemake.input[0]} -> {snakemake.output[0]}")
