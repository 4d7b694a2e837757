rule download_weights:
    output:
        f"{DATA_ROOT}/weights/{{filename}}",
    log:
        f"{DATA_ROOT}/logs/download/weights/{{filename}}.log",
    retries: 0  # the download helper retries (see download_source)
    localrule: True
    conda:
        ENV_DATA
    resources:
        mem_mb=1000,
        runtime=60,
    params:
        source=weights_url,
        sha256_prefix=weights_sha256_prefix,
        name=weights_name,
        format=weights_format,
        lock_file=LOCK_FILE,
        retry_seconds=DOWNLOAD_RETRY_SECONDS,
        timeout=DOWNLOAD_TIMEOUT,
    script:
        "../../scripts/download_weights.py"


# Resume state lives in the run directory's resume/ folder, which is not a declared output:
# Snakemake deletes the declared outputs of a failed job, and resume state must survive one.
rule train:
    input:
        unpack(weights_input),
        unpack(run_asset_files),
        meta=f"{DATASET_DIR}/data/meta.json",
    output:
        checkpoint=f"{RUN_DIR}/checkpoint.pt",
        history=f"{RUN_DIR}/history.csv",
        nc=f"{RUN_DIR}/nc.csv",
        config=f"{RUN_DIR}/config.yaml",
    log:
        f"{DATASET_DIR}/logs/train/{{variant}}/seed{{seed}}.log",
    conda:
        ENV_TORCH
    threads: run_threads
    resources:
        gpu=uses_gpu,
        mem_mb=16000,
        runtime=24 * 60,
    # identity: what determines the weights (the rerun trigger); run: the whole RunSpec the
    # script trains and records (its post-hoc chains and resources are no rerun trigger)
    params:
        identity=training_identity,
        run=run_spec_values,
        resume_dir=f"{RUN_DIR}/resume",
    script:
        "../../scripts/train.py"
