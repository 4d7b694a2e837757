rule evaluate:
    input:
        unpack(job_inputs("evaluate")),
    output:
        metrics=f"{RUN_DIR}/metrics.json",
        predictions=f"{RUN_DIR}/predictions.npz",
    log:
        f"{DATASET_DIR}/logs/evaluate/{{variant}}/seed{{seed}}.log",
    conda:
        ENV_TORCH
    threads: job_resource("evaluate", "threads")
    resources:
        gpu=job_resource("evaluate", "gpu"),
        mem_mb=8000,
        runtime=60,
    params:
        evaluation=job_param("evaluate", "evaluation"),
    script:
        "../../scripts/evaluate.py"
