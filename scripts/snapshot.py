"""Rule snapshot: tables from the runs finished so far, listing the missing ones."""
from haframe.logs import log_to
from haframe.report.build import snapshot_report

with log_to(snakemake.log[0]) as log:
    summary = snapshot_report(dict(snakemake.params.expected), "results", "results/report/snapshot")
    log(f"snapshot: {summary['found']} runs found, {summary['missing']} missing -> results/report/snapshot/snapshot.md")
