"""Rule snapshot: tables from the runs finished so far, listing the missing ones."""

from haframe.logs import log_to
from haframe.report.build import snapshot_report

with log_to(snakemake.log[0]) as log:
    p = snakemake.params
    summary = snapshot_report(
        dict(p.expected), p.results, p.out_dir, dict(p.unavailable), list(p.primary_metrics), p.tuned
    )
    log(
        f"snapshot: {summary['found']} runs found, {summary['missing']} missing ({summary['failed']} failed) "
        f"-> {p.out_dir}/snapshot.md"
    )
