"""Rule report_classifiers: the pretrained classifiers' table (every metric, with each post-hoc
chain's, the architecture's year, the preprocessing, torchvision's published top-1) and the
figure of top-1 error against mistake severity across the years."""

import csv
import io

from haframe.figures import classifiers_by_year
from haframe.fileio import read_json, write_text
from haframe.logs import log_to
from haframe.models.classifiers import classifier

METRICS = ("top1_error", "mistake_severity", "ahd@1", "ahd@5", "ahd@20", "hops", "full_path_accuracy", "ece")


def row_of(model: str, metrics: dict, chains: list[str]) -> dict:
    record = classifier(model)
    row = {"model": model, "year": record.year, "paper": record.paper, "preprocessing": record.preprocessing}
    row["published_top1_error"] = round(100 - record.published_top1, 3)
    row |= {metric: metrics.get(metric) for metric in METRICS}
    for chain in chains:
        row |= {f"{metric} +{chain}": metrics[chain].get(metric) for metric in ("top1_error", "mistake_severity")}
    return row


def markdown(rows: list[dict]) -> str:
    def cell(value) -> str:
        return f"{value:.3f}" if isinstance(value, float) else "" if value is None else str(value)

    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(cell(v) for v in row.values()) + " |" for row in rows]
    return "\n".join(lines) + "\n"


with log_to(snakemake.log[0]) as log:
    p, o = snakemake.params, snakemake.output
    chains = list(p.posthoc)
    results = {model: read_json(path) for model, path in zip(p.models, snakemake.input.metrics)}
    rows = sorted((row_of(m, results[m], chains) for m in p.models), key=lambda row: (row["year"], row["model"]))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(o.csv, buffer.getvalue())
    write_text(
        o.md,
        "Pretrained ImageNet-1k classifiers on the ILSVRC-2012 validation images, under the WordNet "
        "hierarchy of Bertinetto et al. (CVPR 2020); top-1 error in %, published: torchvision's.\n\n" + markdown(rows),
    )
    figure_rows = [{"label": classifier(m).label, "year": classifier(m).year, **results[m]} for m in p.models]
    classifiers_by_year(
        figure_rows, chains[0] if chains else None, "Pretrained classifiers on ImageNet-1k", o.figure, o.figure_svg
    )
    log(f"{len(rows)} classifiers reported")
