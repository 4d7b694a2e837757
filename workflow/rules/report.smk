rule report_dataset:
    input:
        metrics=lambda w: run_files(w.dataset, "metrics.json"),
        predictions=lambda w: run_files(w.dataset, "predictions.npz"),
        histories=lambda w: run_files(w.dataset, "history.csv"),
        distances="results/{dataset}/hierarchy/distances.npy",
    output:
        md=report(
            "results/report/tables/{dataset}.md",
            caption="../report/table.rst",
            category="{dataset}",
            subcategory="tables",
            labels={"content": "main table", "metric": "all"},
        ),
        tex="results/report/tables/{dataset}.tex",
        csv="results/report/tables/{dataset}.csv",
        figure=report(
            "results/report/figures/{dataset}_error_vs_severity.png",
            caption="../report/error_vs_severity.rst",
            category="{dataset}",
            subcategory="figures",
            labels={
                "content": "error vs severity",
                "metric": "top-1 error, mistake severity",
            },
        ),
        ahd=report(
            "results/report/figures/{dataset}_ahd_at_k.png",
            caption="../report/ahd_at_k.rst",
            category="{dataset}",
            subcategory="figures",
            labels={"content": "AHD@k curves", "metric": "AHD@k"},
        ),
        curves=report(
            "results/report/figures/{dataset}_training_curves.png",
            caption="../report/training_curves.rst",
            category="{dataset}",
            subcategory="figures",
            labels={
                "content": "training curves",
                "metric": "val top-1 error, train loss",
            },
        ),
        svg=multiext(
            "results/report/figures/{dataset}_",
            "error_vs_severity.svg",
            "ahd_at_k.svg",
            "training_curves.svg",
        ),
    log:
        "results/report/logs/{dataset}.log",
    conda:
        ENV
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        variants=lambda w: dataset_variants(config, w.dataset),
    script:
        "../../scripts/report_dataset.py"


rule report_study:
    input:
        metrics=[run_files(dataset, "metrics.json") for dataset in config["datasets"]],
        reference=REFERENCE_RESULTS or [],
    output:
        ablation=report(
            "results/report/tables/ablation.md",
            caption="../report/ablation.rst",
            category="study",
            labels={"content": "ablation", "metric": "all"},
        ),
        summary=report(
            "results/report/tables/summary.md",
            caption="../report/summary.rst",
            category="study",
            labels={"content": "summary", "metric": "top-1 error, mistake severity"},
        ),
        scorecard=report(
            "results/report/tables/scorecard.md",
            caption="../report/scorecard.rst",
            category="study",
            labels={"content": "scorecard", "metric": "all"},
        ),
        other=multiext(
            "results/report/tables/",
            "ablation.tex",
            "ablation.csv",
            "summary.tex",
            "summary.csv",
            "scorecard.csv",
        ),
    log:
        "results/report/logs/study.log",
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        variants={
            dataset: dataset_variants(config, dataset)
            for dataset in config["datasets"]
        },
    script:
        "../../scripts/report_study.py"


# The report's tables and figures as one MLflow run per report build (single writer).
rule import_report:
    input:
        report_files(),
    output:
        marker="results/report/mlflow.json",
    log:
        "results/report/logs/import_report.log",
    localrule: True
    conda:
        ENV
    resources:
        mlflow_writer=1,
    params:
        tracking_uri=TRACKING_URI,
    script:
        "../../scripts/import_report.py"


# A snapshot from whatever runs have finished (metrics are not declared inputs), rebuilt
# whenever it is asked for (no outputs): `snakemake snapshot`.
rule snapshot:
    log:
        "results/report/logs/snapshot.log",
    conda:
        ENV
    params:
        expected=lambda w: {
            dataset: {
                variant: run_seeds(config, dataset, variant)
                for variant in dataset_variants(config, dataset)
            }
            for dataset in config["datasets"]
        },
    script:
        "../../scripts/snapshot.py"
