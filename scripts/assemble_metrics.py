"""Rule assemble_metrics: a run's metrics.json and predictions.npz from its saved scores and its
chains' files."""

from pathlib import Path

from haframe.assets import RunAssets
from haframe.evaluate import SCORE_SPLITS, Scores, assemble_metrics
from haframe.logs import log_to
from haframe.run_status import recorded_failure

i, o = snakemake.input, snakemake.output
run_dir = Path(o.metrics).parent
with log_to(snakemake.log[0]) as log, recorded_failure(run_dir, "evaluate"):
    chains = {
        chain: {"metrics": i[f"chain_{n}_json"], "ranked": i[f"chain_{n}_npz"]}
        for n, chain in enumerate(snakemake.params.chains)
    }
    result = assemble_metrics(
        {split: Scores.load(i[f"scores_{split}"]) for split in SCORE_SPLITS},
        chains,
        RunAssets.load(hierarchy=i.hierarchy, distances=i.distances, levels=i.levels, haframe=i.haframe, etf=i.etf),
        o.metrics,
        o.predictions,
    )
    log(
        f"n_test {result['n_test']}: top-1 error {result['top1_error']:.2f}%, "
        f"mistake severity {result['mistake_severity']}"
    )
