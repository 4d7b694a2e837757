"""Rule download_weights: fetch initial backbone weights, verified by their sha256 prefix
(torchvision's file names) or pinned in the lock file once the torch-free weights check passed."""

from haframe.checkpoints import check_weights_file
from haframe.downloads import LockKey, download
from haframe.fileio import check_sha256_prefix
from haframe.logs import log_to
from haframe.pins import pin_validated, reject_unverified

with log_to(snakemake.log[0], console=True) as log:  # progress a user waits on
    p = snakemake.params
    pin = None if p.sha256_prefix else LockKey(p.lock_file, "weights", p.name)
    path = download(p.source, snakemake.output[0], pin=pin, retry_seconds=p.retry_seconds, timeout=p.timeout, log=log)
    try:
        if p.sha256_prefix:
            check_sha256_prefix(path, p.sha256_prefix)
        checked = check_weights_file(path, p.format)
    except ValueError as error:
        if not reject_unverified(path, str(error), log):
            path.unlink()
        raise
    log(f"{path.name}: {checked}")
    pin_validated(path, checked, log)
