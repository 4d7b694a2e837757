rule evaluate:
    input:
        checkpoint=RUN_DIR + "/checkpoint.pt",
        data=multiext(RESULTS + "/{dataset}/data/", "test.npz", "meta.json"),
        distances=RESULTS + "/{dataset}/hierarchy/distances.npy",
    output:
        metrics=RUN_DIR + "/metrics.json",
        predictions=RUN_DIR + "/predictions.npz",
    params:
        data_dir=lambda w: f"{RESULTS}/{w.dataset}/data",
    threads: training_threads
    log:
        RESULTS + "/{dataset}/logs/evaluate/{variant}/seed{seed}.log",
    conda:
        ENV
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../../scripts/evaluate.py"
