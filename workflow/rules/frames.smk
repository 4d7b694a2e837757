rule solve_frame:
    input:
        distances=RESULTS + "/{dataset}/hierarchy/distances.npy",
    output:
        multiext(
            RESULTS + "/{dataset}/frames/",
            "haframe.npz",
            "etf.npz",
            "summary.json",
        ),
        report(
            RESULTS + "/{dataset}/frames/cosines.png",
            caption="../report/cosines.rst",
            category="{dataset}",
            subcategory="frames",
        ),
    params:
        gamma=lambda w: config["datasets"][w.dataset]["frame"]["gamma"],
        solver=lambda w: config["datasets"][w.dataset]["frame"]["solver"],
        out_dir=lambda w: f"{RESULTS}/{w.dataset}/frames",
    log:
        RESULTS + "/{dataset}/logs/solve_frame.log",
    conda:
        ENV
    resources:
        mem_mb=4000,
        runtime=10,
    script:
        "../../scripts/solve_frame.py"
