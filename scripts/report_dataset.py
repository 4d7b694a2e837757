"""Rule report_dataset: the dataset's main table (md, tex, csv) and figures (png, svg)."""

from haframe.logs import log_to
from haframe.report.build import report_dataset

with log_to(snakemake.log[0]) as log:
    i, o = snakemake.input, snakemake.output
    rows = report_dataset(
        snakemake.wildcards.dataset,
        list(snakemake.params.variants),
        metrics_files=i.metrics,
        predictions_files=i.predictions,
        history_files=i.histories,
        collapse_files=i.collapse,
        distances_file=i.distances,
        table={"md": o.md, "tex": o.tex, "csv": o.csv, "html": o.html},
        hierarchy_table={
            "md": o.hierarchy_md,
            "tex": o.hierarchy_tex,
            "csv": o.hierarchy_csv,
            "html": o.hierarchy_html,
        },
        figure_files={name: [o[name], o[f"{name}_svg"]] for name in snakemake.params.figures},
        failed_runs=dict(snakemake.params.failed_runs),
        series=list(snakemake.params.series),
        primary_metrics=list(snakemake.params.primary_metrics),
        tuning=snakemake.params.tuning,
        tuning_files={name: {s: o[f"{name}_{s}"] for s in ("md", "csv", "html")} for name in ("trials", "selection")}
        if snakemake.params.tuning
        else None,
        dominance_files={s: o[f"dominance_{s}"] for s in ("md", "csv", "html")},
        bootstrap=snakemake.params.bootstrap,
        method_notes=dict(snakemake.params.method_notes),
    )
    log(f"{len(rows)} table rows from {len(i.metrics)} runs")
