rule download_weights:
    output:
        f"{DATA_ROOT}/weights/{{filename}}",
    log:
        f"{DATA_ROOT}/logs/download/weights/{{filename}}.log",
    retries: 2
    localrule: True
    conda:
        ENV
    resources:
        mem_mb=1000,
        runtime=60,
    params:
        source=lambda w: weights_named(w.filename)["url"],
        sha256_prefix=lambda w: weights_named(w.filename)["sha256_prefix"],
        lock_file=f"{DATA_ROOT}/downloads.lock.yaml",
    script:
        "../../scripts/download_weights.py"


# Resume state lives in the run directory's resume/ folder, which is not a declared output:
# Snakemake deletes the declared outputs of a failed job, and resume state must survive one.
rule train:
    input:
        unpack(weights_input),
        meta="results/{dataset}/data/meta.json",
        levels="results/{dataset}/hierarchy/levels.npy",
        distances="results/{dataset}/hierarchy/distances.npy",
        hierarchy="results/{dataset}/hierarchy/hierarchy.tsv",
        frame="results/{dataset}/frames/haframe.npz",
        etf="results/{dataset}/frames/etf.npz",
    output:
        checkpoint="results/{dataset}/runs/{variant}/seed{seed}/checkpoint.pt",
        history="results/{dataset}/runs/{variant}/seed{seed}/history.csv",
        config="results/{dataset}/runs/{variant}/seed{seed}/config.yaml",
    log:
        "results/{dataset}/logs/train/{variant}/seed{seed}.log",
    conda:
        ENV
    threads: training_threads
    resources:
        gpu=uses_gpu,
        mem_mb=16000,
        runtime=24 * 60,
    params:
        run=run_config,
    script:
        "../../scripts/train.py"
