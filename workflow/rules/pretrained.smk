# Pretrained ImageNet-1k classifiers evaluated as they are (config `pretrained`): each model's
# weights, its test scores (the one job that loads it), its metrics from those scores, then one
# table and figure for all of them. haframe.pretrained.


rule download_classifier:
    output:
        f"{DATA_ROOT}/weights/classifiers/{{filename}}",
    log:
        f"{DATA_ROOT}/logs/download/weights/classifiers/{{filename}}.log",
    retries: 0  # the download helper retries (see download_source)
    localrule: True
    conda:
        ENV_DATA
    resources:
        mem_mb=1000,
        runtime=60,
    params:
        source=job_param("download_classifier", "source"),
        sha256=job_param("download_classifier", "sha256"),
        sha256_prefix=job_param("download_classifier", "sha256_prefix"),
        retry_seconds=job_param("download_classifier", "retry_seconds"),
        timeout=job_param("download_classifier", "timeout"),
    script:
        "../../scripts/download_classifier.py"


rule score_classifier:
    input:
        unpack(job_inputs("score_classifier")),
    output:
        LAYOUT.pretrained_file("scores"),
    log:
        f"{DATASET_DIR}/logs/score_classifier/{{model}}.log",
    conda:
        ENV_TORCH
    threads: job_resource("score_classifier", "threads")
    resources:
        gpu=job_resource("score_classifier", "gpu"),
        mem_mb=16000,
        runtime=120,
    params:
        model=job_param("score_classifier", "model"),
        evaluation=job_param("score_classifier", "evaluation"),
        loader=job_param("score_classifier", "workers"),
    script:
        "../../scripts/score_classifier.py"


rule classifier_metrics:
    input:
        unpack(job_inputs("classifier_metrics")),
    output:
        LAYOUT.pretrained_file("metrics"),
    log:
        f"{DATASET_DIR}/logs/classifier_metrics/{{model}}.log",
    conda:
        ENV_TORCH
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        posthoc=job_param("classifier_metrics", "posthoc"),
    script:
        "../../scripts/classifier_metrics.py"


rule report_classifiers:
    input:
        unpack(job_inputs("report_classifiers")),
    output:
        **LAYOUT.pretrained_report(),
    log:
        f"{REPORT_DIR}/logs/classifiers.log",
    conda:
        ENV_REPORT
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        models=job_param("report_classifiers", "models"),
        posthoc=job_param("report_classifiers", "posthoc"),
    script:
        "../../scripts/report_classifiers.py"


rule import_classifier:
    input:
        unpack(job_inputs("import_classifier")),
    output:
        marker=LAYOUT.pretrained_file("mlflow"),
    log:
        f"{DATASET_DIR}/logs/import_classifier/{{model}}.log",
    localrule: True
    conda:
        ENV_TRACKING
    resources:
        mlflow_writer=1,
    params:
        tracking_uri=job_param("import_classifier", "tracking_uri"),
        experiment=STUDY.name,
    script:
        "../../scripts/import_classifier.py"
