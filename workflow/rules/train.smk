# Resume state lives in the run directory's resume/ folder, which is not a declared output:
# Snakemake deletes the declared outputs of a failed job, and resume state must survive one.
rule train:
    input:
        meta="results/{dataset}/data/meta.json",
        frame="results/{dataset}/frames/haframe.npz",
    output:
        checkpoint="results/{dataset}/runs/{variant}/seed{seed}/checkpoint.pt",
        history="results/{dataset}/runs/{variant}/seed{seed}/history.csv",
        config="results/{dataset}/runs/{variant}/seed{seed}/config.yaml",
    params:
        run=run_config,
    threads: training_threads
    log:
        "results/{dataset}/logs/train/{variant}/seed{seed}.log",
    conda:
        ENV
    resources:
        mem_mb=4000,
        runtime=120,
    script:
        "../../scripts/train.py"
