rule evaluate:
    input:
        checkpoint="results/{dataset}/runs/{variant}/seed{seed}/checkpoint.pt",
        meta="results/{dataset}/data/meta.json",
        levels="results/{dataset}/hierarchy/levels.npy",
        distances="results/{dataset}/hierarchy/distances.npy",
        hierarchy="results/{dataset}/hierarchy/hierarchy.tsv",
        frame="results/{dataset}/frames/haframe.npz",
        etf="results/{dataset}/frames/etf.npz",
    output:
        metrics="results/{dataset}/runs/{variant}/seed{seed}/metrics.json",
        predictions="results/{dataset}/runs/{variant}/seed{seed}/predictions.npz",
    log:
        "results/{dataset}/logs/evaluate/{variant}/seed{seed}.log",
    conda:
        ENV
    threads: training_threads
    resources:
        gpu=uses_gpu,
        mem_mb=8000,
        runtime=60,
    script:
        "../../scripts/evaluate.py"
