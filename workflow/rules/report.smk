rule report_dataset:
    input:
        unpack(job_inputs("report_dataset")),
    output:
        **gallery_outputs(LAYOUT.dataset_report(), "report"),
    log:
        f"{REPORT_DIR}/logs/{{dataset}}.log",
    conda:
        ENV_REPORT
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        variants=job_param("report_dataset", "variants"),
        figures=job_param("report_dataset", "figures"),
        failed_runs=job_param("report_dataset", "failed_runs"),
        series=job_param("report_dataset", "series"),
        primary_metrics=job_param("report_dataset", "primary_metrics"),
        tuning=job_param("report_dataset", "tuning"),
        bootstrap=job_param("report_dataset", "bootstrap"),
        method_notes=job_param("report_dataset", "method_notes"),
    script:
        "../../scripts/report_dataset.py"


rule report_study:
    input:
        unpack(job_inputs("report_study")),
    output:
        **gallery_outputs(LAYOUT.study_report(), "report", scope="study"),
    log:
        f"{REPORT_DIR}/logs/study.log",
    conda:
        ENV_REPORT
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        variants=job_param("report_study", "variants"),
        not_run=job_param("report_study", "not_run"),
        primary_metrics=job_param("report_study", "primary_metrics"),
        tuning=job_param("report_study", "tuning"),
    script:
        "../../scripts/report_study.py"


# The report's tables and figures as one MLflow run per report build (single writer).
rule import_report:
    input:
        unpack(job_inputs("import_report")),
    output:
        marker=f"{REPORT_DIR}/mlflow.json",
    log:
        f"{REPORT_DIR}/logs/import_report.log",
    localrule: True
    conda:
        ENV_TRACKING
    resources:
        mlflow_writer=1,
    params:
        tracking_uri=job_param("import_report", "tracking_uri"),
        failed_runs=job_param("import_report", "failed_runs"),
        experiment=STUDY.name,
    script:
        "../../scripts/import_report.py"


# A snapshot from whatever runs have finished (metrics are not declared inputs), rebuilt
# whenever it is asked for (no outputs): `snakemake snapshot`.
rule snapshot:
    log:
        f"{REPORT_DIR}/logs/snapshot.log",
    conda:
        ENV_REPORT
    params:
        expected={
            d: {v: STUDY.seeds(d, v) for v in STUDY.variants(d)}
            for d in STUDY.datasets
            if d not in TABLE.left_out
        },
        results=RESULTS,
        out_dir=f"{REPORT_DIR}/snapshot",
        unavailable=dict(TABLE.left_out),
        primary_metrics=list(STUDY.config["report"]["primary_metrics"]),
        tuned=STUDY.protocol.tuned,
    script:
        "../../scripts/snapshot.py"
