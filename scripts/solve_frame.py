"""Rule solve_frame: solve the HAFrame similarity (and the ETF) once per dataset."""

from haframe.assets import build_frame_stage
from haframe.logs import log_to

with log_to(snakemake.log[0]) as log:
    p = snakemake.params
    summary = build_frame_stage(
        snakemake.input.hierarchy, snakemake.input.distances, p.gamma, p.solver, snakemake.output
    )
    log(
        f"gamma {p.gamma}, solver {p.solver}: s = {summary['s']:.6f} "
        f"(exact boundary {summary['exact_s']:.6f}), solved in {summary['solve_seconds'] * 1e3:.1f} ms"
    )
