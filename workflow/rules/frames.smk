rule solve_frame:
    input:
        hierarchy="results/{dataset}/hierarchy/hierarchy.tsv",
        distances="results/{dataset}/hierarchy/distances.npy",
    output:
        haframe="results/{dataset}/frames/haframe.npz",
        etf="results/{dataset}/frames/etf.npz",
        summary="results/{dataset}/frames/summary.json",
        heatmap=report(
            "results/{dataset}/frames/cosines.png",
            caption="../report/cosines.rst",
            category="{dataset}",
            subcategory="frames",
            labels={"content": "HAFrame vs ETF cosines", "metric": "target cosine"},
        ),
        heatmap_svg="results/{dataset}/frames/cosines.svg",
    log:
        "results/{dataset}/logs/solve_frame.log",
    conda:
        ENV
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        gamma=lambda w: config["datasets"][w.dataset]["frame"]["gamma"],
        solver=lambda w: config["datasets"][w.dataset]["frame"]["solver"],
    script:
        "../../scripts/solve_frame.py"
