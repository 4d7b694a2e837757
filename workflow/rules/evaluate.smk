rule evaluate:
    input:
        unpack(run_asset_files),
        unpack(auxiliary_checkpoints),
        checkpoint=f"{RUN_DIR}/checkpoint.pt",
        meta=f"{DATASET_DIR}/data/meta.json",
    output:
        metrics=f"{RUN_DIR}/metrics.json",
        predictions=f"{RUN_DIR}/predictions.npz",
    log:
        f"{DATASET_DIR}/logs/evaluate/{{variant}}/seed{{seed}}.log",
    conda:
        ENV_TORCH
    threads: run_threads
    resources:
        gpu=uses_gpu,
        mem_mb=8000,
        runtime=60,
    params:
        evaluation=evaluation_identity,
    script:
        "../../scripts/evaluate.py"
