"""Rule download_weights: fetch initial backbone weights, verified (sha256 prefix or lock)."""
from haframe.io import check_sha256_prefix, download
from haframe.logs import log_to

with log_to(snakemake.log[0]) as log:
    p = snakemake.params
    # a known sha256 prefix (torchvision's file names) verifies the file; else the lock file pins it
    path = download(p.source, snakemake.output[0], lock_file=None if p.sha256_prefix else p.lock_file, log=log)
    if p.sha256_prefix:
        try:
            check_sha256_prefix(path, p.sha256_prefix)
        except ValueError:
            path.unlink()
            raise
