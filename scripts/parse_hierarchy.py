"""Rule parse_hierarchy: validate the hierarchy, write distances, level labels, summary."""
from pathlib import Path

from haframe.logs import log_to
from haframe.stages import parse_hierarchy

with log_to(snakemake.log[0]) as log:
    p = snakemake.params
    summary = parse_hierarchy(
        snakemake.input.hierarchy, p.format, Path(snakemake.output.summary).parent,
        class_order=p.class_order, classes_file=snakemake.input.get("classes"), expected=dict(p.expected),
    )
    log(f"{summary['num_classes']} classes, height {summary['height']}, "
        f"random-mistake severity {summary['random_mistake_severity']:.4f}")
