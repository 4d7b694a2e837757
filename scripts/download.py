"""Rule download_*: fetch one source (URL, file:// URL or local path), checksum-verified."""
from haframe.io import download
from haframe.logs import log_to

with log_to(snakemake.log[0]) as log:
    p = snakemake.params
    log(f"fetching {p.source}")
    download(p.source, snakemake.output[0], p.sha256, md5=p.get("md5"), lock_file=p.get("lock_file"), log=log)
