# Resume state lives in RUN_DIR/resume/, which is not a declared output: Snakemake deletes
# declared outputs of a failed job, and the resume state must survive a killed one.
rule train:
    input:
        data=multiext(RESULTS + "/{dataset}/data/", "train.npz", "val.npz", "meta.json"),
        frame=RESULTS + "/{dataset}/frames/haframe.npz",
    output:
        checkpoint=RUN_DIR + "/checkpoint.pt",
        history=RUN_DIR + "/history.csv",
        config=RUN_DIR + "/config.yaml",
    params:
        run=run_config,
        data_dir=lambda w: f"{RESULTS}/{w.dataset}/data",
        resume_dir=RUN_DIR + "/resume",
    threads: training_threads
    log:
        RESULTS + "/{dataset}/logs/train/{variant}/seed{seed}.log",
    conda:
        ENV
    resources:
        mem_mb=4000,
        runtime=120,
    script:
        "../../scripts/train.py"
