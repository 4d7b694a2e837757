"""The miniature's sensitivity (`make miniature-sensitivity`): HAFrame against type-II CE on
every cell of the calibration grid, from the finished study's per-dataset tables.

The summary was fixed before the first run (config/miniature_sensitivity.yaml): a cell counts
*for* HAFrame when the 95% CI of its severity difference to CE lies below 0 while its top-1
error is not worse (the error difference's CI reaches 0 or lies below it); *against* when the
severity difference's CI lies above 0.

    .venv/bin/python -m haframe.report.sensitivity config/miniature_sensitivity.yaml
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import yaml

from .. import figures
from ..fileio import write_text

VARIANT, BASELINE = "haframe", "ce_II"
METRICS = ("mistake_severity", "top1_error")


def cell_differences(table_csv: str | Path) -> dict[str, float]:
    """HAFrame's differences to CE in one dataset's table: ``<metric>_diff`` and ``_diff_ci``."""
    with open(table_csv, newline="") as handle:
        (row,) = [row for row in csv.DictReader(handle) if row["variant"] == VARIANT]
    if row["baseline"] != BASELINE:
        raise ValueError(f"{table_csv}: {VARIANT} is compared with {row['baseline']!r}, not {BASELINE!r}")
    return {f"{m}_{part}": float(row[f"{m}_{part}"]) for m in METRICS for part in ("diff", "diff_ci")}


def verdict(cell: dict[str, float]) -> str:
    """for, against or neither, by the pre-registered rule (the module docstring)."""
    severity_high = cell["mistake_severity_diff"] + cell["mistake_severity_diff_ci"]
    severity_low = cell["mistake_severity_diff"] - cell["mistake_severity_diff_ci"]
    error_low = cell["top1_error_diff"] - cell["top1_error_diff_ci"]
    if severity_high < 0 and error_low <= 0:
        return "for"
    return "against" if severity_low > 0 else "neither"


def summarise(config_file: str | Path) -> dict:
    """The grid's table (md, csv), heat-maps (png, svg) and the counts, next to the study's report."""
    config = yaml.safe_load(Path(config_file).read_text())
    report = Path("results") / config["study"] / "report"
    cells = []
    for name, section in config["datasets"].items():
        data = section["synthetic"]
        found = cell_differences(report / "tables" / f"{name}.csv")
        cells.append({"alignment": data["alignment"], "noise": data["noise"], **found, "verdict": verdict(found)})
    counts = {key: sum(c["verdict"] == key for c in cells) for key in ("for", "against", "neither")}
    lines = [
        f"### {VARIANT} against {BASELINE} on the calibration grid ({len(config['seeds'])} seeds per cell)",
        "",
        "| alignment | noise | severity difference | top-1 error difference (points) | verdict |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {c['alignment']} | {c['noise']} | {c['mistake_severity_diff']:+.3f} ± "
        f"{c['mistake_severity_diff_ci']:.3f} | {c['top1_error_diff']:+.2f} ± {c['top1_error_diff_ci']:.2f} | "
        f"{c['verdict']} |"
        for c in cells
    ]
    lines += [
        "",
        f"- for HAFrame (severity lower, CI below 0, error not worse): {counts['for']} of {len(cells)} cells; against "
        f"(severity higher, CI above 0): {counts['against']}; neither: {counts['neither']}",
        "- differences: HAFrame - CE, Welch's t over seeds, 95% CI half-widths (unadjusted)",
    ]
    write_text(report / "sensitivity.md", "\n".join(lines) + "\n")
    header = ["alignment", "noise", *(f"{m}_{p}" for m in METRICS for p in ("diff", "diff_ci")), "verdict"]
    rows = [",".join(str(c[key]) for key in header) for c in cells]
    write_text(report / "sensitivity.csv", "\n".join([",".join(header), *rows]) + "\n")
    figures.difference_grids(cells, METRICS, ("mistake severity", "top-1 error (points)"), "HAFrame - CE",
                             report / "sensitivity.png", report / "sensitivity.svg")  # fmt: skip
    return counts


def main(argv: list[str]) -> int:
    counts = summarise(argv[0])
    print(f"for HAFrame: {counts['for']}, against: {counts['against']}, neither: {counts['neither']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
