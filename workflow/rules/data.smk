rule prepare_synthetic:
    output:
        multiext(
            "results/{dataset}/data/",
            "train.npz",
            "val.npz",
            "test.npz",
            "classes.txt",
            "meta.json",
            "hierarchy.tsv",
        ),
    params:
        spec=lambda w: config["datasets"][w.dataset].get("synthetic", {}),
    wildcard_constraints:
        dataset="|".join(datasets_of_kind("synthetic")) or "^$",
    log:
        "results/{dataset}/logs/prepare.log",
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../../scripts/prepare_synthetic.py"
