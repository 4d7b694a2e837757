"""Rule report_study: ablation and summary tables across datasets, and the scorecard."""
from pathlib import Path

from haframe.io import read_json
from haframe.logs import log_to
from haframe.stages import report_study

with log_to(snakemake.log[0]) as log:
    variants = dict(snakemake.params.variants)
    results = {dataset: [] for dataset in variants}
    for path in snakemake.input.metrics:
        result = read_json(path)
        results[result["dataset"]].append(result)
    summary = report_study(results, variants, Path(snakemake.output.ablation).parent, snakemake.input.reference or None)
    log(f"ablation rows {summary['ablation_rows']}, scorecard cells {summary['scorecard']}")
