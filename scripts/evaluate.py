"""Rule evaluate: the best checkpoint's class scores on every validation and test image. A
checkpoint that fails its checks is moved aside (the run trains again on the next invocation)."""

from pathlib import Path

from haframe.assets import RunAssets
from haframe.checkpoints import CorruptFile, set_aside
from haframe.evaluate import score_run
from haframe.logs import log_to
from haframe.run_lock import exclusive_run, follow_snakemake
from haframe.run_status import recorded_failure
from haframe.runs import Evaluation

run_dir = Path(snakemake.output.test).parents[1]
name = "{dataset}/{variant}/seed{seed}".format(**snakemake.wildcards)
with (
    log_to(snakemake.log[0]) as log,
    exclusive_run(run_dir, name, log=lambda message: log(message, console=True)),  # a wait for another writer
    recorded_failure(run_dir, "evaluate"),
):
    follow_snakemake(log)
    i, o = snakemake.input, snakemake.output
    try:
        scored = score_run(
            checkpoint=i.checkpoint,
            assets=RunAssets.load(
                hierarchy=i.hierarchy, distances=i.distances, levels=i.levels, haframe=i.haframe, etf=i.etf
            ),
            data=i.meta,
            scores_files={"val": o.val, "test": o.test},
            threads=snakemake.threads,
            evaluation=Evaluation(**snakemake.params.evaluation),
        )
    except CorruptFile as error:
        moved = set_aside(error.path)
        log(f"{error}; moved aside to {moved.name}: asking again for this run's scores retrains {name}", console=True)
        raise
    for split, scores in scored.items():
        log(f"{split}: {scores.scores.shape[0]} images x {scores.scores.shape[1]} classes scored")
