"""Rule evaluate: score the best checkpoint on every test image."""
from pathlib import Path

from haframe.evaluate import evaluate_run
from haframe.logs import log_to

with log_to(snakemake.log[0]) as log:
    result = evaluate_run(
        checkpoint=snakemake.input.checkpoint,
        data_dir=Path(snakemake.input.meta).parent,
        hierarchy_dir=Path(snakemake.input.levels).parent,
        frames_dir=Path(snakemake.input.frame).parent,
        metrics_file=snakemake.output.metrics,
        predictions_file=snakemake.output.predictions,
        threads=snakemake.threads,
    )
    log(f"n_test {result['n_test']}: top-1 error {result['top1_error']:.2f}%, "
        f"mistake severity {result['mistake_severity']}")
