rule parse_hierarchy:
    input:
        hierarchy=RESULTS + "/{dataset}/data/hierarchy.tsv",
        classes=RESULTS + "/{dataset}/data/classes.txt",
    output:
        multiext(
            RESULTS + "/{dataset}/hierarchy/",
            "hierarchy.tsv",
            "distances.npy",
            "levels.npy",
            "summary.json",
        ),
        report(
            RESULTS + "/{dataset}/hierarchy/distance_histogram.png",
            caption="../report/distance_histogram.rst",
            category="{dataset}",
            subcategory="hierarchy",
        ),
    params:
        out_dir=lambda w: f"{RESULTS}/{w.dataset}/hierarchy",
    log:
        RESULTS + "/{dataset}/logs/parse_hierarchy.log",
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../../scripts/parse_hierarchy.py"
