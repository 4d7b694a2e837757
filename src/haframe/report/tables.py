"""Paper-style tables: mean +- 95% CI over seeds per variant (and post-hoc chain) and metric,
grouped by head type, best values marked; the ablation and cross-dataset summary tables.
Markdown, LaTeX (booktabs) and CSV."""

from __future__ import annotations

import csv
import io as _io
import math
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from ..io import write_text
from ..metrics import mean_ci

METRICS = ("top1_error", "mistake_severity", "ahd@1", "ahd@5", "ahd@20")
HEADERS = {
    "top1_error": "top-1 error (%)",
    "mistake_severity": "mistake severity",
    "ahd@1": "AHD@1",
    "ahd@5": "AHD@5",
    "ahd@20": "AHD@20",
}
ABLATION = ("ce_I", "ce_II", "haframe_fixed", "haframe")
HEAD_TITLES = {"I": "type I", "II": "type II"}
NOTES = (
    "mean ± 95% confidence half-width over seeds: t-quantile, sample std (ddof=1); the authors' "
    "code used the population std (ddof=0), about 11% narrower at n=5",
    "`+crm`: the same models, predicting by conditional risk minimisation (argmin of p @ D)",
    "bold: the best (lowest) mean of the column",
)


# --------------------------------------------------------------------------- rows


def table_rows(results: Sequence[dict], variants: Sequence[str]) -> list[dict]:
    """Rows grouped by head type (I, then II), in ``variants`` order within a group, each
    followed by a ``<variant>+<chain>`` row per post-hoc chain that every seed of it ran
    (e.g. ``ce_II+crm``). ``results`` are metrics.json dicts."""
    rows = []
    for variant in variants:
        runs = sorted((r for r in results if r["variant"] == variant), key=lambda r: r["seed"])
        if not runs:
            continue
        head = runs[0].get("head", "II")
        rows.append(_row(variant, head, runs))
        chains = [key for key, value in runs[0].items() if isinstance(value, dict)]
        for chain in chains:
            if all(chain in r for r in runs):
                rows.append(_row(f"{variant}+{chain}", head, [r[chain] for r in runs], [r["seed"] for r in runs]))
    return sorted(rows, key=lambda row: row["head"])  # stable: keeps variant order per head


def _row(name: str, head: str, runs: Sequence[dict], seeds: Sequence[int] | None = None) -> dict:
    metrics = [m for m in METRICS if all(m in r for r in runs)]
    return {
        "name": name,
        "head": head,
        "seeds": list(seeds if seeds is not None else [r["seed"] for r in runs]),
        "n_test": runs[0]["n_test"],
        **{m: mean_ci([r[m] for r in runs]) for m in metrics},
    }


def columns_of(rows: Sequence[dict]) -> list[str]:
    return [m for m in METRICS if any(m in row for row in rows)]


def best_means(rows: Sequence[dict], columns: Iterable[str]) -> dict[str, float]:
    """The lowest mean of each column (every metric here is lower-is-better)."""
    best = {}
    for column in columns:
        means = [row[column]["mean"] for row in rows if row.get(column) and row[column]["mean"] is not None]
        if means:
            best[column] = min(means)
    return best


def _is_best(row: dict, column: str, best: dict[str, float]) -> bool:
    stat = row.get(column)
    return bool(stat) and stat["mean"] is not None and column in best and math.isclose(stat["mean"], best[column])


def _cell(stat: dict | None, pm: str = " ± ", digits: int = 2) -> str | None:
    if not stat or stat["mean"] is None:
        return None
    if stat["ci"] is None:
        return f"{stat['mean']:.{digits}f}"
    return f"{stat['mean']:.{digits}f}{pm}{stat['ci']:.{digits}f}"


# --------------------------------------------------------------------------- formats


def markdown(rows: Sequence[dict], title: str, notes: Sequence[str] = (), label: str = "variant") -> str:
    columns = columns_of(rows)
    best = best_means(rows, columns)
    lines = [f"### {title}", "", f"| {label} | n | " + " | ".join(HEADERS[c] for c in columns) + " |"]
    lines.append("|" + "---|" * (len(columns) + 2))
    head = None
    for row in rows:
        if row.get("head") and row["head"] != head and "dataset" not in row:
            head = row["head"]
            lines.append(f"| *{HEAD_TITLES[head]}* |" + " |" * (len(columns) + 1))
        cells = []
        for c in columns:
            text = _cell(row.get(c)) or "–"
            cells.append(f"**{text}**" if _is_best(row, c, best) else text)
        name = f"{row['dataset']} / {row['name']}" if "dataset" in row else row["name"]
        lines.append(f"| {name} | {len(row['seeds'])} | " + " | ".join(cells) + " |")
    lines += ["", *[f"- {note}" for note in notes]]
    return "\n".join(lines) + "\n"


def _tex_escape(text: str) -> str:
    return text.replace("\\", r"\textbackslash{}").replace("_", r"\_").replace("%", r"\%").replace("&", r"\&").replace("#", r"\#")


def latex(rows: Sequence[dict], title: str, label: str = "variant") -> str:
    """A booktabs tabular, ready to \\input; one line per row, type I / type II sections."""
    columns = columns_of(rows)
    best = best_means(rows, columns)
    width = len(columns) + 2
    lines = [
        "% " + title,
        r"\begin{tabular}{l r " + "c " * len(columns) + "}",
        r"\toprule",
        f"{label} & $n$ & " + " & ".join(_tex_escape(HEADERS[c]) for c in columns) + r" \\",
        r"\midrule",
    ]
    head = None
    for row in rows:
        if row.get("head") and row["head"] != head and "dataset" not in row:
            if head is not None:
                lines.append(r"\midrule")
            head = row["head"]
            lines.append(rf"\multicolumn{{{width}}}{{l}}{{\emph{{{HEAD_TITLES[head]}}}}} \\")
        cells = []
        for c in columns:
            text = _cell(row.get(c), pm=r" \pm ")
            if text is None:
                cells.append("--")
            else:
                cells.append(rf"$\mathbf{{{text}}}$" if _is_best(row, c, best) else f"${text}$")
        name = f"{row['dataset']} / {row['name']}" if "dataset" in row else row["name"]
        lines.append(f"{_tex_escape(name)} & {len(row['seeds'])} & " + " & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def csv_text(rows: Sequence[dict]) -> str:
    columns = columns_of(rows)
    best = best_means(rows, columns)
    prefix = ["dataset"] if any("dataset" in row for row in rows) else []
    fields = prefix + ["variant", "head", "n", "seeds", "n_test"]
    fields += [f"{c}_{part}" for c in columns for part in ("mean", "ci95")] + ["best"]
    buffer = _io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        record = {
            "dataset": row.get("dataset", ""), "variant": row["name"], "head": row["head"], "n": len(row["seeds"]),
            "seeds": " ".join(map(str, row["seeds"])), "n_test": row["n_test"],
            "best": " ".join(c for c in columns if _is_best(row, c, best)),
        }
        for c in columns:
            stat = row.get(c) or {"mean": None, "ci": None}
            record[f"{c}_mean"] = "" if stat["mean"] is None else repr(stat["mean"])
            record[f"{c}_ci95"] = "" if stat["ci"] is None else repr(stat["ci"])
        writer.writerow(record)
    return buffer.getvalue()


def write_tables(rows: Sequence[dict], files: Mapping[str, str | Path], title: str, notes: Sequence[str] = (),
                 label: str = "variant") -> None:
    """The table as ``files["md"]``, ``files["tex"]`` and ``files["csv"]``."""
    write_text(files["md"], markdown(rows, title, notes, label))
    write_text(files["tex"], latex(rows, title, label))
    write_text(files["csv"], csv_text(rows))


def table_files(stem: str | Path) -> dict[str, Path]:
    """{md, tex, csv}: the three files of one table."""
    return {suffix: Path(f"{stem}.{suffix}") for suffix in ("md", "tex", "csv")}


# --------------------------------------------------------------------------- study tables


def ablation_rows(results_by_dataset: dict[str, Sequence[dict]]) -> list[dict]:
    """ce_I, ce_II, haframe_fixed, haframe per dataset (those present), without CRM rows."""
    rows = []
    for dataset, results in results_by_dataset.items():
        for row in table_rows(results, ABLATION):
            if not row["name"].endswith("+crm"):
                rows.append({**row, "dataset": dataset})
    return sorted(rows, key=lambda row: (list(results_by_dataset).index(row["dataset"]), ABLATION.index(row["name"])))


def summary_tables(rows_by_dataset: dict[str, Sequence[dict]]) -> tuple[str, str, str]:
    """Top-1 error and mistake severity of every row across datasets (md, tex, csv)."""
    names = list(dict.fromkeys(row["name"] for rows in rows_by_dataset.values() for row in rows))
    datasets = list(rows_by_dataset)
    lookup = {(d, row["name"]): row for d, rows in rows_by_dataset.items() for row in rows}
    metrics = ("top1_error", "mistake_severity")
    best = {(d, m): best_means(rows_by_dataset[d], [m]).get(m) for d in datasets for m in metrics}

    def cell(d, name, m, pm, bold):
        row = lookup.get((d, name))
        text = _cell(row.get(m)) if row else None
        if text is None:
            return None
        text = text.replace(" ± ", pm)
        return bold(text) if best[(d, m)] is not None and math.isclose(row[m]["mean"], best[(d, m)]) else text

    md = ["### Summary: top-1 error (%) / mistake severity", "",
          "| variant | " + " | ".join(f"{d} top-1 | {d} severity" for d in datasets) + " |",
          "|" + "---|" * (1 + 2 * len(datasets))]
    tex = ["% summary across datasets", r"\begin{tabular}{l " + "c c " * len(datasets) + "}", r"\toprule",
           "variant & " + " & ".join(rf"\multicolumn{{2}}{{c}}{{{_tex_escape(d)}}}" for d in datasets) + r" \\",
           " & " + " & ".join("top-1 & severity" for _ in datasets) + r" \\", r"\midrule"]
    buffer = _io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["variant"] + [f"{d}_{m}_{p}" for d in datasets for m in metrics for p in ("mean", "ci95")])
    for name in names:
        md_cells, tex_cells, csv_cells = [], [], []
        for d in datasets:
            for m in metrics:
                md_cells.append(cell(d, name, m, " ± ", lambda t: f"**{t}**") or "–")
                text = cell(d, name, m, r" \pm ", lambda t: rf"\mathbf{{{t}}}")
                tex_cells.append(f"${text}$" if text else "--")
                stat = (lookup.get((d, name)) or {}).get(m) or {"mean": None, "ci": None}
                csv_cells += ["" if stat["mean"] is None else repr(stat["mean"]), "" if stat["ci"] is None else repr(stat["ci"])]
        md.append(f"| {name} | " + " | ".join(md_cells) + " |")
        tex.append(f"{_tex_escape(name)} & " + " & ".join(tex_cells) + r" \\")
        writer.writerow([name] + csv_cells)
    tex += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(md) + "\n", "\n".join(tex) + "\n", buffer.getvalue()
