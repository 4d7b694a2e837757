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
        source=hierarchy_source,
        sha256=hierarchy_sha256,
        lock_file=LOCK_FILE,
        lock_source="hierarchy",
        retry_seconds=DOWNLOAD_RETRY_SECONDS,
        timeout=DOWNLOAD_TIMEOUT,
    script:
        "../../scripts/download.py"


rule parse_hierarchy:
    input:
        unpack(hierarchy_inputs),
    output:
        tsv=hierarchy_file("tsv"),
        distances=hierarchy_file("distances"),
        levels=hierarchy_file("levels"),
        summary=hierarchy_file("summary"),
        histogram=hierarchy_file("histogram"),
        histogram_svg=hierarchy_file("histogram_svg"),
    log:
        f"{DATASET_DIR}/logs/parse_hierarchy.log",
    conda:
        ENV_DATA
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        format=hierarchy_format,
        class_order=hierarchy_class_order,
        expected=hierarchy_expected,
    script:
        "../../scripts/parse_hierarchy.py"
