"""Rule report_study: ablation and summary tables across datasets, and the scorecard."""

from haframe.fileio import read_json
from haframe.logs import log_to
from haframe.report.build import report_study

with log_to(snakemake.log[0]) as log:
    o = snakemake.output
    variants = dict(snakemake.params.variants)
    results = {dataset: [] for dataset in variants}
    for path in snakemake.input.metrics:
        result = read_json(path)
        results[result["dataset"]].append(result)
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
