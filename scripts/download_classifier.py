"""Rule download_classifier: a pretrained classifier's weights, verified by the sha256 prefix of
torchvision's file name, or by the full sha256 the config gives for a copy of its own."""

from haframe.downloads import download
from haframe.fileio import check_sha256_prefix
from haframe.logs import log_to

with log_to(snakemake.log[0], console=True) as log:  # progress a user waits on
    p = snakemake.params
    path = download(p.source, snakemake.output[0], p.sha256, retry_seconds=p.retry_seconds, timeout=p.timeout, log=log)
    if p.sha256_prefix:
        try:
            check_sha256_prefix(path, p.sha256_prefix)
        except ValueError:
            path.unlink()
            raise
    log(f"{path.name}: sha256 {'prefix ' + p.sha256_prefix if p.sha256_prefix else p.sha256} verified")
