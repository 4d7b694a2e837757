rule solve_frame:
    input:
        hierarchy=LAYOUT.hierarchy_file("tsv"),
        distances=LAYOUT.hierarchy_file("distances"),
    output:
        **gallery_outputs(
            {name: LAYOUT.frame_file(name) for name in FRAME_FILES}, "frames"
        ),
    log:
        f"{DATASET_DIR}/logs/solve_frame.log",
    conda:
        ENV_DATA
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        gamma=job_param("solve_frame", "gamma"),
        solver=job_param("solve_frame", "solver"),
    script:
        "../../scripts/solve_frame.py"
