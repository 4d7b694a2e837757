rule solve_frame:
    input:
        hierarchy=LAYOUT.hierarchy_file("tsv"),
        distances=LAYOUT.hierarchy_file("distances"),
    output:
        haframe=LAYOUT.frame_file("haframe"),
        etf=LAYOUT.frame_file("etf"),
        summary=LAYOUT.frame_file("summary"),
        heatmap=LAYOUT.frame_file("heatmap"),
        heatmap_svg=LAYOUT.frame_file("heatmap_svg"),
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
