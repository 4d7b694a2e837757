rule download_hierarchy:
    output:
        f"{DATASET_DIR}/hierarchy/source/{{filename}}",
    log:
        f"{DATASET_DIR}/logs/download_hierarchy/{{filename}}.log",
    retries: 2
    localrule: True
    conda:
        ENV_DATA
    resources:
        mem_mb=500,
        runtime=10,
    params:
        source=hierarchy_source,
        sha256=hierarchy_sha256,
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
