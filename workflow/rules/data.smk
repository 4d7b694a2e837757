rule prepare_synthetic:
    output:
        multiext(
            RESULTS + "/{dataset}/data/",
            "train.npz",
            "val.npz",
            "test.npz",
            "classes.txt",
            "meta.json",
            "hierarchy.tsv",
        ),
    params:
        spec=lambda w: config["datasets"][w.dataset].get("synthetic", {}),
        out_dir=lambda w: f"{RESULTS}/{w.dataset}/data",
    wildcard_constraints:
        dataset="|".join(datasets_of_kind("synthetic")) or "^$",
    log:
        RESULTS + "/{dataset}/logs/prepare.log",
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../../scripts/prepare_synthetic.py"
