"""Rule train: one (dataset, variant, seed) run; resumes from its resume/ state if present."""

from pathlib import Path

from haframe.assets import RunAssets
from haframe.logs import log_to
from haframe.run_lock import exclusive_run, follow_snakemake
from haframe.run_status import recorded_failure
from haframe.runs import RunSpec
from haframe.train import train_run

run = RunSpec.from_dict(snakemake.params.run)
run_dir = Path(snakemake.output.checkpoint).parent
with (
    log_to(snakemake.log[0]) as log,
    exclusive_run(run_dir, run.name, log=lambda message: log(message, console=True)),  # a wait for another writer
    recorded_failure(run_dir, "train"),
):
    follow_snakemake(log)
    i, o = snakemake.input, snakemake.output
    summary = train_run(
        run,
        RunAssets.load(hierarchy=i.hierarchy, distances=i.distances, levels=i.levels, haframe=i.haframe, etf=i.etf),
        data=i.meta,
        checkpoint=o.checkpoint,
        history=o.history,
        nc=o.nc,
        config=o.config,
        resume_dir=snakemake.params.resume_dir,
        weights_file=i.get("weights"),
        threads=snakemake.threads,
        log=lambda message: log(message, console=True),  # a resume, a state moved aside
        epoch_log=log,  # the log file only
    )
    log(f"done: best validation top-1 error {summary['best_val_top1_error']:.2f}%")
