rule report_dataset:
    input:
        metrics=dataset_run_files("metrics.json"),
        predictions=dataset_run_files("predictions.npz"),
        histories=dataset_run_files("history.csv"),
        collapse=dataset_run_files("nc.csv"),
        distances=hierarchy_file("distances"),
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
        hierarchy_md=report(
            "results/report/tables/{dataset}_hierarchy.md",
            caption="../report/hierarchy_table.rst",
            category="{dataset}",
            subcategory="tables",
            labels={
                "content": "HOPS, per-level accuracy, calibration",
                "metric": "HOPS, accuracy, ECE",
            },
        ),
        hierarchy_tex="results/report/tables/{dataset}_hierarchy.tex",
        hierarchy_csv="results/report/tables/{dataset}_hierarchy.csv",
        error_vs_severity=report(
            "results/report/figures/{dataset}_error_vs_severity.png",
            caption="../report/error_vs_severity.rst",
            category="{dataset}",
            subcategory="figures",
            labels={
                "content": "error vs severity",
                "metric": "top-1 error, mistake severity",
            },
        ),
        ahd_at_k=report(
            "results/report/figures/{dataset}_ahd_at_k.png",
            caption="../report/ahd_at_k.rst",
            category="{dataset}",
            subcategory="figures",
            labels={"content": "AHD@k curves", "metric": "AHD@k"},
        ),
        training_curves=report(
            "results/report/figures/{dataset}_training_curves.png",
            caption="../report/training_curves.rst",
            category="{dataset}",
            subcategory="figures",
            labels={
                "content": "training curves",
                "metric": "val top-1 error, train loss",
            },
        ),
        neural_collapse=report(
            "results/report/figures/{dataset}_neural_collapse.png",
            caption="../report/neural_collapse.rst",
            category="{dataset}",
            subcategory="figures",
            labels={
                "content": "neural collapse",
                "metric": "NC1, cosines to HAFrame and ETF, self-duality",
            },
        ),
        mistake_distances=report(
            "results/report/figures/{dataset}_mistake_distances.png",
            caption="../report/mistake_distances.rst",
            category="{dataset}",
            subcategory="figures",
            labels={
                "content": "where mistakes land",
                "metric": "d(prediction, target)",
            },
        ),
        error_vs_severity_svg="results/report/figures/{dataset}_error_vs_severity.svg",
        ahd_at_k_svg="results/report/figures/{dataset}_ahd_at_k.svg",
        training_curves_svg="results/report/figures/{dataset}_training_curves.svg",
        neural_collapse_svg="results/report/figures/{dataset}_neural_collapse.svg",
        mistake_distances_svg="results/report/figures/{dataset}_mistake_distances.svg",
    log:
        "results/report/logs/{dataset}.log",
    conda:
        ENV
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        variants=dataset_variants,
        figures=FIGURES,
    script:
        "../../scripts/report_dataset.py"


rule report_study:
    input:
        metrics=[run_files(dataset, "metrics.json") for dataset in STUDY.datasets],
        reference=report_file("reference_results"),
        notes=report_file("reference_notes"),
    output:
        ablation_md=report(
            "results/report/tables/ablation.md",
            caption="../report/ablation.rst",
            category="study",
            labels={"content": "ablation", "metric": "all"},
        ),
        summary_md=report(
            "results/report/tables/summary.md",
            caption="../report/summary.rst",
            category="study",
            labels={"content": "summary", "metric": "top-1 error, mistake severity"},
        ),
        scorecard_md=report(
            "results/report/tables/scorecard.md",
            caption="../report/scorecard.rst",
            category="study",
            labels={"content": "scorecard", "metric": "all"},
        ),
        ablation_tex="results/report/tables/ablation.tex",
        ablation_csv="results/report/tables/ablation.csv",
        summary_tex="results/report/tables/summary.tex",
        summary_csv="results/report/tables/summary.csv",
        scorecard_csv="results/report/tables/scorecard.csv",
    log:
        "results/report/logs/study.log",
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        variants=study_variants(),
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
        expected=study_seeds(),
    script:
        "../../scripts/snapshot.py"
