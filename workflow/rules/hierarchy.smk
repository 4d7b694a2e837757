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
        source=lambda w: hierarchy_spec(w.dataset)["source"],
        sha256=lambda w: hierarchy_spec(w.dataset)["sha256"],
    script:
        "../../scripts/download.py"


rule parse_hierarchy:
    input:
        unpack(hierarchy_inputs),
    output:
        tsv="results/{dataset}/hierarchy/hierarchy.tsv",
        distances="results/{dataset}/hierarchy/distances.npy",
        levels="results/{dataset}/hierarchy/levels.npy",
        summary="results/{dataset}/hierarchy/summary.json",
        histogram=report(
            "results/{dataset}/hierarchy/distance_histogram.png",
            caption="../report/distance_histogram.rst",
            category="{dataset}",
            subcategory="hierarchy",
            labels={
                "content": "distance histogram",
                "metric": "hierarchical distance",
            },
        ),
        histogram_svg="results/{dataset}/hierarchy/distance_histogram.svg",
    log:
        "results/{dataset}/logs/parse_hierarchy.log",
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        format=lambda w: hierarchy_spec(w.dataset)["format"],
        class_order=lambda w: hierarchy_spec(w.dataset)["class_order"],
        expected=lambda w: {
            key: config["datasets"][w.dataset].get(key)
            for key in ("classes", "height")
        },
    script:
        "../../scripts/parse_hierarchy.py"
