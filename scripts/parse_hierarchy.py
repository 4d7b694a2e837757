"""Rule parse_hierarchy: validate the hierarchy, write distances, level labels, summary; pins a
downloaded hierarchy without a published sha256 once it parsed (deletes it if it does not)."""

from haframe.assets import build_hierarchy_stage
from haframe.logs import log_to
from haframe.pins import pin_validated, reject_unverified

with log_to(snakemake.log[0]) as log:
    p = snakemake.params
    try:
        summary = build_hierarchy_stage(
            snakemake.input.hierarchy,
            p.format,
            snakemake.output,
            class_order=p.class_order,
            classes_file=snakemake.input.get("classes"),
            expected=dict(p.expected),
        )
    except Exception as error:
        if not (isinstance(error, OSError) and error.errno is not None):  # not a disk error: the file's content
            reject_unverified(snakemake.input.hierarchy, f"it does not parse as {p.format}: {error}", log)
        raise
    log(
        f"{summary['num_classes']} classes, height {summary['height']}, "
        f"random-mistake severity {summary['random_mistake_severity']:.4f}"
    )
    pin_validated(
        snakemake.input.hierarchy,
        f"parsed as {p.format}: {summary['num_classes']} classes, height {summary['height']}",
        log,
    )
