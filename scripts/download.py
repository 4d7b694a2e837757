"""Rules download_source, download_hierarchy: fetch one source (URL, file:// URL or local path),
checked against its published checksum, or its pin in the lock file (an unpinned source is
recorded as unverified: the rule that validates its content pins it)."""

from haframe.downloads import LockKey, download
from haframe.logs import log_to

with log_to(snakemake.log[0], console=True) as log:  # progress a user waits on
    p = snakemake.params
    log(f"fetching {p.source}")
    download(
        p.source,
        snakemake.output[0],
        p.sha256,
        md5=p.get("md5"),
        pin=LockKey(p.lock_file, snakemake.wildcards.dataset, p.lock_source),
        retry_seconds=p.retry_seconds,
        timeout=p.timeout,
        log=log,
    )
