# One writer at a time: runs on the submitting host (localrule), serialised by the
# `mlflow_writer` resource and, inside the library, by a lock beside the sqlite store.
# The store is never a declared output; the marker file records the MLflow run.
rule import_run:
    input:
        unpack(job_inputs("import_run")),
    output:
        marker=f"{RUN_DIR}/mlflow.json",
    log:
        f"{DATASET_DIR}/logs/import_run/{{variant}}/seed{{seed}}.log",
    localrule: True
    conda:
        ENV_TRACKING
    resources:
        mlflow_writer=1,
    params:
        tracking_uri=job_param("import_run", "tracking_uri"),
        experiment=STUDY.name,
        # not recorded (no rerun): every run's marker and this invocation's start, for the
        # console's "run 7/12 done ...; about 3 min left" (haframe.progress)
        progress=Untracked(
            {
                "markers": IMPORT_MARKERS,
                "started_at": STARTED_AT,
            }
        ),
    script:
        "../../scripts/import_run.py"
