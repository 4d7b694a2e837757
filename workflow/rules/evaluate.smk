rule evaluate:
    input:
        checkpoint="results/{dataset}/runs/{variant}/seed{seed}/checkpoint.pt",
        meta="results/{dataset}/data/meta.json",
        distances="results/{dataset}/hierarchy/distances.npy",
    output:
        metrics="results/{dataset}/runs/{variant}/seed{seed}/metrics.json",
        predictions="results/{dataset}/runs/{variant}/seed{seed}/predictions.npz",
    threads: training_threads
    log:
        "results/{dataset}/logs/evaluate/{variant}/seed{seed}.log",
    conda:
        ENV
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../../scripts/evaluate.py"
