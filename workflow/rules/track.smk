# One writer at a time: runs on the submitting host (localrule), serialised by the
# `mlflow_writer` resource and, inside the library, by a lock beside the sqlite store.
# The store is never a declared output; the marker file records the MLflow run.
rule import_run:
    input:
        config="results/{dataset}/runs/{variant}/seed{seed}/config.yaml",
        history="results/{dataset}/runs/{variant}/seed{seed}/history.csv",
        metrics="results/{dataset}/runs/{variant}/seed{seed}/metrics.json",
    output:
        marker="results/{dataset}/runs/{variant}/seed{seed}/mlflow.json",
    log:
        "results/{dataset}/logs/import_run/{variant}/seed{seed}.log",
    localrule: True
    conda:
        ENV
    resources:
        mlflow_writer=1,
    params:
        tracking_uri=TRACKING_URI,
        experiment=lambda w: w.dataset,
    script:
        "../../scripts/import_run.py"
