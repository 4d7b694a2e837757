"""Rule parse_hierarchy: validate the hierarchy, write distances, level labels, summary."""
from haframe.assets import build_hierarchy_stage
from haframe.logs import log_to

with log_to(snakemake.log[0]) as log:
    p = snakemake.params
    summary = build_hierarchy_stage(
        snakemake.input.hierarchy, p.format, snakemake.output, class_order=p.class_order,
        classes_file=snakemake.input.get("classes"), expected=dict(p.expected),
    )
    log(f"{summary['num_classes']} classes, height {summary['height']}, "
        f"random-mistake severity {summary['random_mistake_severity']:.4f}")
