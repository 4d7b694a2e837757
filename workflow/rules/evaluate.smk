# evaluate: the only job that loads a model, the run's validation and test scores (an auxiliary
# model's too); posthoc: one per chain, re-ranks the saved scores; assemble_metrics: the run's
# metrics.json and predictions.npz. A chain added to a finished study reruns the last two only.
for name, trial in (("evaluate", False), ("evaluate_trial", True)):

    rule:
        name:
            name
        input:
            unpack(job_inputs(name)),
        output:
            val=scores_file("val", trial),
            test=scores_file("test", trial),
        log:
            f"{DATASET_DIR}/logs/evaluate/{{variant}}/seed{{seed}}.log",
        wildcard_constraints:
            seed=seeds_of(name),
        conda:
            ENV_TORCH
        threads: job_resource(name, "threads")
        resources:
            gpu=job_resource(name, "gpu"),
            mem_mb=8000,
            runtime=60,
        params:
            evaluation=job_param(name, "evaluation"),
        script:
            "../../scripts/evaluate.py"


rule posthoc:
    input:
        unpack(job_inputs("posthoc")),
    output:
        metrics=LAYOUT.chain_file("json"),
        ranked=LAYOUT.chain_file("npz"),
    log:
        f"{DATASET_DIR}/logs/posthoc/{{variant}}/seed{{seed}}/{{chain}}.log",
    conda:
        ENV_TORCH
    resources:
        mem_mb=8000,
        runtime=30,
    script:
        "../../scripts/posthoc.py"


rule assemble_metrics:
    input:
        unpack(job_inputs("assemble_metrics")),
    output:
        metrics=LAYOUT.run_file("metrics"),
        predictions=LAYOUT.run_file("predictions"),
    log:
        f"{DATASET_DIR}/logs/assemble_metrics/{{variant}}/seed{{seed}}.log",
    conda:
        ENV_TORCH
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        chains=job_param("assemble_metrics", "chains"),
    script:
        "../../scripts/assemble_metrics.py"
