"""Rule parse_hierarchy: validate the hierarchy, write distances, level labels, summary. A
downloaded hierarchy without a published sha256 is pinned once it parsed (deleted if it does
not); a local file is read where it is, after checking it is the content the workflow was
built with."""

from haframe.assets import build_hierarchy_stage
from haframe.fileio import sha256_of
from haframe.hierarchy import HierarchyError
from haframe.logs import log_to
from haframe.pins import pin_validated, reject_unverified

with log_to(snakemake.log[0]) as log:
    p = snakemake.params
    local = p.local or None  # an empty mapping where the hierarchy is no local file
    if local is not None and sha256_of(local["path"]) != local["sha256"]:
        raise HierarchyError(f"{local['path']}: changed since the workflow was built; run it again")
    source = local["path"] if local is not None else snakemake.input.hierarchy
    try:
        summary = build_hierarchy_stage(
            source,
            p.format,
            snakemake.output,
            class_order=p.class_order,
            classes_file=snakemake.input.get("classes"),
            expected=dict(p.expected),
        )
    except Exception as error:
        if local is None and not (isinstance(error, OSError) and error.errno is not None):  # the file's content
            reject_unverified(source, f"it does not parse as {p.format}: {error}", log)
        raise
    log(
        f"{source}: {summary['num_classes']} classes, height {summary['height']}, "
        f"random-mistake severity {summary['random_mistake_severity']:.4f}"
    )
    if local is None:
        pin_validated(
            source, f"parsed as {p.format}: {summary['num_classes']} classes, height {summary['height']}", log
        )
