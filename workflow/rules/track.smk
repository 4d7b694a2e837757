# One writer at a time: runs on the submitting host (localrule), serialised by the
# `mlflow_writer` resource and, inside the library, by a lock beside the sqlite store.
# The store is never a declared output; the marker file records the MLflow run.
rule import_run:
    input:
        config=RUN_DIR + "/config.yaml",
        history=RUN_DIR + "/history.csv",
        metrics=RUN_DIR + "/metrics.json",
    output:
        marker=RUN_DIR + "/mlflow.json",
    params:
        tracking_uri=TRACKING_URI,
        experiment=lambda w: w.dataset,
        run_dir=RUN_DIR,
    localrule: True
    log:
        RESULTS + "/{dataset}/logs/import_run/{variant}/seed{seed}.log",
    conda:
        ENV
    resources:
        mlflow_writer=1,
    script:
        "../../scripts/import_run.py"
