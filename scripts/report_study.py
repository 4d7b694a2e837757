"""Rule report_study: ablation and summary tables across datasets, and the scorecard."""

from haframe.fileio import read_json
from haframe.logs import log_to
from haframe.report.build import report_study
from haframe.report.selection import selected_results

with log_to(snakemake.log[0]) as log:
    o = snakemake.output
    variants, tuning = dict(snakemake.params.variants), snakemake.params.tuning
    results = {dataset: [] for dataset in variants}
    for path in snakemake.input.metrics:
        result = read_json(path)
        results[result["dataset"]].append(result)
    if tuning:  # each repetition's selected trial, as in the datasets' tables
        results = {d: selected_results(found, tuning["selection"], tuning["tolerance"]) for d, found in results.items()}
    summary = report_study(
        results,
        variants,
        reference_file=snakemake.input.reference or None,
        notes_file=snakemake.input.notes or None,
        ablation={s: o[f"ablation_{s}"] for s in ("md", "tex", "csv", "html")},
        summary={s: o[f"summary_{s}"] for s in ("md", "tex", "csv", "html")},
        scorecard_files={s: o[f"scorecard_{s}"] for s in ("md", "csv", "html")},
        not_run=dict(snakemake.params.not_run),
        primary_metrics=list(snakemake.params.primary_metrics),
    )
    log(f"ablation rows {summary['ablation_rows']}, scorecard cells {summary['scorecard']}")
