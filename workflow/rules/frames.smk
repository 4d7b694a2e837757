rule solve_frame:
    input:
        hierarchy=hierarchy_file("tsv"),
        distances=hierarchy_file("distances"),
    output:
        haframe=frame_file("haframe"),
        etf=frame_file("etf"),
        summary=frame_file("summary"),
        heatmap=report(
            frame_file("heatmap"),
            caption="../report/cosines.rst",
            category="{dataset}",
            subcategory="frames",
            labels={"content": "HAFrame vs ETF cosines", "metric": "target cosine"},
        ),
        heatmap_svg=frame_file("heatmap_svg"),
    log:
        "results/{dataset}/logs/solve_frame.log",
    conda:
        ENV
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        gamma=frame_gamma,
        solver=frame_solver,
    script:
        "../../scripts/solve_frame.py"
