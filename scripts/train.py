"""Rule train: one (dataset, variant, seed) run; resumes from its resume/ state if present."""
from haframe.logs import log_to
from haframe.train import train_run

with log_to(snakemake.log[0]) as log:
    out = snakemake.output
    summary = train_run(
        dict(snakemake.params.run),
        data_dir=snakemake.params.data_dir,
        frame_file=snakemake.input.frame,
        out_dir=out.checkpoint.rsplit("/", 1)[0],
        resume_dir=snakemake.params.resume_dir,
        threads=snakemake.threads,
        log=log,
    )
    log(f"done: best validation top-1 error {summary['best_val_top1_error']:.2f}%")
