rule report_dataset:
    input:
        metrics=lambda w: run_files(w.dataset, "metrics.json"),
    output:
        md=report(
            RESULTS + "/report/tables/{dataset}.md",
            caption="../report/table.rst",
            category="{dataset}",
            subcategory="tables",
        ),
        tex=RESULTS + "/report/tables/{dataset}.tex",
        csv=RESULTS + "/report/tables/{dataset}.csv",
        figure=report(
            RESULTS + "/report/figures/{dataset}_error_vs_severity.png",
            caption="../report/error_vs_severity.rst",
            category="{dataset}",
            subcategory="figures",
        ),
    params:
        variants=lambda w: dataset_variants(config, w.dataset),
        tables_dir=RESULTS + "/report/tables",
    log:
        RESULTS + "/report/logs/{dataset}.log",
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../../scripts/report_dataset.py"
