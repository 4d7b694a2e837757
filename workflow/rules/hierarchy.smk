rule download_hierarchy:
    output:
        "results/{dataset}/hierarchy/source/{filename}",
    log:
        "results/{dataset}/logs/download_hierarchy/{filename}.log",
    retries: 2
    localrule: True
    conda:
        ENV
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
        histogram=report(
            hierarchy_file("histogram"),
            caption="../report/distance_histogram.rst",
            category="{dataset}",
            subcategory="hierarchy",
            labels={
                "content": "distance histogram",
                "metric": "hierarchical distance",
            },
        ),
        histogram_svg=hierarchy_file("histogram_svg"),
    log:
        "results/{dataset}/logs/parse_hierarchy.log",
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        format=hierarchy_format,
        class_order=hierarchy_class_order,
        expected=hierarchy_expected,
    script:
        "../../scripts/parse_hierarchy.py"
