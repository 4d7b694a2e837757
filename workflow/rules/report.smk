rule report_dataset:
    input:
        metrics=lambda w: run_files(w.dataset, "metrics.json"),
    output:
        md=report(
            "results/report/tables/{dataset}.md",
            caption="../report/table.rst",
            category="{dataset}",
            subcategory="tables",
        ),
        tex="results/report/tables/{dataset}.tex",
        csv="results/report/tables/{dataset}.csv",
        figure=report(
            "results/report/figures/{dataset}_error_vs_severity.png",
            caption="../report/error_vs_severity.rst",
            category="{dataset}",
            subcategory="figures",
        ),
    params:
        variants=lambda w: dataset_variants(config, w.dataset),
    log:
        "results/report/logs/{dataset}.log",
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../../scripts/report_dataset.py"
