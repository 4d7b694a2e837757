"""Rule train: one (dataset, variant, seed) run; resumes from its resume/ state if present."""
from pathlib import Path

from haframe.logs import log_to
from haframe.train import train_run

with log_to(snakemake.log[0]) as log:
    run_dir = Path(snakemake.output.checkpoint).parent
    summary = train_run(
        dict(snakemake.params.run),
        data_dir=Path(snakemake.input.meta).parent,
        hierarchy_dir=Path(snakemake.input.levels).parent,
        frames_dir=Path(snakemake.input.frame).parent,
        out_dir=run_dir,
        resume_dir=run_dir / "resume",
        weights_file=snakemake.input.get("weights"),
        threads=snakemake.threads,
        log=log,
    )
    log(f"done: best validation top-1 error {summary['best_val_top1_error']:.2f}%")
