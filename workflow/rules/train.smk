rule download_weights:
    output:
        f"{DATA_ROOT}/weights/{{filename}}",
    log:
        f"{DATA_ROOT}/logs/download/weights/{{filename}}.log",
    wildcard_constraints:
        filename=r"[^/]+",  # weights/classifiers/ is download_classifier's
    retries: 0  # the download helper retries (see download_source)
    localrule: True
    conda:
        ENV_DATA
    resources:
        mem_mb=1000,
        runtime=60,
    params:
        source=job_param("download_weights", "source"),
        sha256_prefix=job_param("download_weights", "sha256_prefix"),
        name=job_param("download_weights", "name"),
        format=job_param("download_weights", "format"),
        lock_file=LAYOUT.lock_file,
        retry_seconds=job_param("download_weights", "retry_seconds"),
        timeout=job_param("download_weights", "timeout"),
    script:
        "../../scripts/download_weights.py"


# Resume state lives in the run directory's resume/ folder, which is not a declared output:
# Snakemake deletes the declared outputs of a failed job, and resume state must survive one.
rule train:
    input:
        unpack(job_inputs("train")),
    output:
        checkpoint=f"{RUN_DIR}/checkpoint.pt",
        history=f"{RUN_DIR}/history.csv",
        nc=f"{RUN_DIR}/nc.csv",
        config=f"{RUN_DIR}/config.yaml",
    log:
        f"{DATASET_DIR}/logs/train/{{variant}}/seed{{seed}}.log",
    conda:
        ENV_TORCH
    threads: job_resource("train", "threads")
    resources:
        gpu=job_resource("train", "gpu"),
        mem_mb=16000,
        # minutes: the study's cost estimate x3 + 30 (a day where no rate is measured:
        # haframe.cost.training_runtime), times the attempt; --set-resources train:runtime=N overrides
        runtime=lambda wildcards, attempt: job("train")(wildcards).resources["runtime"]
        * attempt,
    # identity: what determines the weights (the rerun trigger); run: the whole RunSpec the
    # script trains and records (its post-hoc chains and resources are no rerun trigger)
    params:
        identity=job_param("train", "identity"),
        run=job_param("train", "run"),
        resume_dir=job_param("train", "resume_dir"),
    script:
        "../../scripts/train.py"
