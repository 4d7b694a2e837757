rule download_weights:
    output:
        f"{DATA_ROOT}/weights/{{filename}}",
    params:
        source=lambda w: weights_named(w.filename)["url"],
        sha256_prefix=lambda w: weights_named(w.filename)["sha256_prefix"],
        lock_file=f"{DATA_ROOT}/downloads.lock.yaml",
    localrule: True
    retries: 2
    log:
        f"{DATA_ROOT}/logs/download/weights/{{filename}}.log",
    conda:
        ENV
    resources:
        mem_mb=1000,
        runtime=60,
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
    params:
        run=run_config,
    threads: training_threads
    log:
        "results/{dataset}/logs/train/{variant}/seed{seed}.log",
    conda:
        ENV
    resources:
        gpu=uses_gpu,
        mem_mb=16000,
        runtime=24 * 60,
    script:
        "../../scripts/train.py"
