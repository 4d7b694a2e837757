rule download_hierarchy:
    output:
        f"{DATASET_DIR}/hierarchy/source/{{filename}}",
    log:
        f"{DATASET_DIR}/logs/download_hierarchy/{{filename}}.log",
    retries: 0  # the download helper retries (see download_source)
    localrule: True
    conda:
        ENV_DATA
    resources:
        mem_mb=500,
        runtime=10,
    params:
        source=job_param("download_hierarchy", "source"),
        sha256=job_param("download_hierarchy", "sha256"),
        lock_file=LAYOUT.lock_file,
        lock_source="hierarchy",
        retry_seconds=job_param("download_hierarchy", "retry_seconds"),
        timeout=job_param("download_hierarchy", "timeout"),
    script:
        "../../scripts/download.py"


# A local hierarchy file is no input (its mtime would rerun the parse on a touch): its content
# hash is the `local` param; the rule runs where the file is, on the submitting host.
rule parse_hierarchy:
    input:
        unpack(job_inputs("parse_hierarchy")),
    output:
        **gallery_outputs(
            {name: LAYOUT.hierarchy_file(name) for name in HIERARCHY_FILES},
            "hierarchy",
        ),
    log:
        f"{DATASET_DIR}/logs/parse_hierarchy.log",
    localrule: True
    conda:
        ENV_DATA
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        format=job_param("parse_hierarchy", "format"),
        class_order=job_param("parse_hierarchy", "class_order"),
        expected=job_param("parse_hierarchy", "expected"),
        local=job_param("parse_hierarchy", "local"),
    script:
        "../../scripts/parse_hierarchy.py"
