"""Rule evaluate: score the best checkpoint on every test image."""

from pathlib import Path

from haframe.assets import RunAssets
from haframe.evaluate import evaluate_run
from haframe.logs import log_to
from haframe.run_lock import exclusive_run, follow_snakemake
from haframe.run_status import recorded_failure
from haframe.runs import Evaluation

run_dir = Path(snakemake.output.metrics).parent
name = "{dataset}/{variant}/seed{seed}".format(**snakemake.wildcards)
record = snakemake.params.evaluation  # the chains and settings to score (haframe.identity.evaluation_record)
with log_to(snakemake.log[0]) as log, exclusive_run(run_dir, name, log=log), recorded_failure(run_dir, "evaluate"):
    follow_snakemake(log)
    i, o = snakemake.input, snakemake.output
    result = evaluate_run(
        checkpoint=i.checkpoint,
        assets=RunAssets.load(
            hierarchy=i.hierarchy, distances=i.distances, levels=i.levels, haframe=i.haframe, etf=i.etf
        ),
        data=i.meta,
        metrics_file=o.metrics,
        predictions_file=o.predictions,
        threads=snakemake.threads,
        auxiliary={key.removeprefix("auxiliary_"): path for key, path in i.items() if key.startswith("auxiliary_")},
        chains=record["chains"],
        evaluation=Evaluation(**record["evaluation"]),
    )
    log(
        f"n_test {result['n_test']}: top-1 error {result['top1_error']:.2f}%, "
        f"mistake severity {result['mistake_severity']}"
    )
