"""Paper-style tables: mean +- 95% CI over seeds per variant (and post-hoc chain) and metric,
grouped by head type, best values marked; the ablation and cross-dataset summary tables.
Markdown, LaTeX (booktabs) and CSV."""

from __future__ import annotations

import csv
import io as _io
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from ..fileio import write_text
from ..metrics import MIN_N, mean_ci, too_few
from . import significance
from .html import markdown_to_html

METRICS = ("top1_error", "mistake_severity", "ahd@1", "ahd@5", "ahd@20")  # the main table's
# the second table's: the successors' metrics (the per-level accuracies follow them)
HIERARCHY_METRICS = ("hops", "hops@20", "hops@5", "full_path_accuracy", "ece")
HEADERS = {
    "top1_error": "top-1 error (%)",
    "mistake_severity": "mistake severity",
    "ahd@1": "AHD@1",
    "ahd@5": "AHD@5",
    "ahd@20": "AHD@20",
    "hops": "HOPS",
    "hops@20": "HOPS@20",
    "hops@5": "HOPS@5",
    "full_path_accuracy": "full-path accuracy (%)",
    "hiercos_full_path_accuracy": "full-path accuracy, Hier-COS's rule (%)",
    "ece": "ECE (%)",
}
HIGHER_IS_BETTER = ("hops", "accuracy")  # metric names that contain one of these
ABLATION = ("ce_I", "ce_II", "haframe_fixed", "haframe")
HEAD_TITLES = {"I": "type I", "II": "type II"}
MARKER = "†"  # after a cell whose row differs from its head's CE baseline (Holm-adjusted p < ALPHA)
NOTES = (
    "mean ± 95% confidence half-width over seeds: t-quantile, sample std (ddof=1); the authors' "
    f"code used the population std (ddof=0), about 11% narrower at n=5; with fewer than {MIN_N} "
    'seeds the mean alone, with its n ("n = 2"): no CI and no test',
    "`<variant>+<rule>`: the same models, re-ranked by post-hoc rules applied in order (crm: conditional "
    "risk minimisation, argmin of p @ D; hie: HiE's coarse-model amendment)",
    "bold: the best mean of the column (the lowest error, severity, AHD, ECE; the highest HOPS, accuracy)",
)

HIERARCHY_NOTES = (
    "HOPS (Sani & Anand, CVPR 2026): how closely the whole ranking (HOPS) or its top 20 / top 5 "
    "follows the ideal order by hierarchical distance to the true class, 1 = ideal; HOPS@1 would "
    "be the top-1 accuracy",
    "accuracy at level l (the project's definition, the same for every method): the argmax of the "
    "leaf probabilities summed into the level-l nodes of the padded tree (level 0 = the leaves, so "
    "level 1 holds their parents); full-path accuracy: right at every level",
    "Hier-COS's rule (its authors' definition, util/hiercos_construction.py; Hier-COS rows only, what its "
    "paper reports as level-wise accuracy and FPA): at depth d of the unpadded tree (1 = the root's "
    "children), the node whose subspace (its ancestors, itself and its descendants) holds the largest "
    "norm of the model's output, over the samples whose leaf reaches depth d; full path: right at "
    "every depth the leaf reaches",
    "ECE: expected calibration error of the leaf distribution, 15 equal-width bins of the "
    "predicted class's probability",
)


def header(metric: str) -> str:
    """A column's title; per-level accuracies are ``level<l>_accuracy`` (0 = the leaves) and
    Hier-COS's ``hiercos_depth<d>_accuracy`` (1 = the root's children)."""
    if metric.startswith("level") and metric.endswith("_accuracy"):
        return f"accuracy at level {metric[5:-9]} (%)"
    if metric.startswith("hiercos_depth") and metric.endswith("_accuracy"):
        return f"accuracy at depth {metric[13:-9]}, Hier-COS's rule (%)"
    return HEADERS[metric]


def level_metrics(results: Sequence[dict]) -> list[str]:
    """The per-level accuracies the results hold, coarser levels after the leaves' (level 0 is
    the top-1 accuracy, left out), then Hier-COS's per-depth ones, shallowest first, and its full-path
    accuracy (Hier-COS's rule: its columns last, beside each other)."""
    found = {key for result in results for key in result if key.endswith("_accuracy")}
    ours = sorted((k for k in found if k.startswith("level") and k != "level0_accuracy"), key=lambda k: int(k[5:-9]))
    theirs = sorted((k for k in found if k.startswith("hiercos_depth")), key=lambda k: int(k[13:-9]))
    return [*ours, *theirs, *(["hiercos_full_path_accuracy"] if "hiercos_full_path_accuracy" in found else [])]


# --------------------------------------------------------------------------- rows


def table_rows(
    results: Sequence[dict],
    variants: Sequence[str],
    metrics: Sequence[str] = METRICS,
    primary: Sequence[str] | None = None,
    posthoc: bool = True,
) -> list[dict]:
    """Rows grouped by head type (I, then II), in ``variants`` order within a group, each
    followed (``posthoc``) by a ``<variant>+<chain>`` row per post-hoc chain that every seed of
    it ran (e.g. ``ce_II+crm``), with the ``metrics`` columns. ``results`` are metrics.json
    dicts. With ``primary`` metrics, each row holds its comparison with its head's CE baseline
    on those of them the table shows (``significance.compare``): ``baseline``, ``test`` and
    ``significance`` {metric: the test's record, or None}; the baselines and the rows of a head
    without a CE variant hold empty ones."""
    rows = []
    for entry in significance.series(results, variants, posthoc):
        runs = list(entry["runs"].values())
        seeds = list(entry["runs"]) if entry["chain"] else None
        rows.append(_row(entry["name"], entry["head"], runs, metrics, seeds))
    if primary is not None:
        tested = [m for m in primary if m in columns_of(rows)]
        comparison = significance.compare(results, variants, tested, posthoc)
        for row in rows:
            record = comparison.get(row["name"], {"baseline": "", "test": "", "metrics": {}})
            row.update(
                baseline=record["baseline"],
                test=record["test"],
                significance={m: record["metrics"].get(m) for m in tested},
            )
    return sorted(rows, key=lambda row: row["head"])  # stable: keeps variant order per head


def study_significance_notes(rows: Sequence[dict], scope: str) -> list[str]:
    """The marker's note of a table across datasets (``scope``: where the Holm family is)."""
    tested = list(dict.fromkeys(m for row in rows for m in row.get("significance", {})))
    if not tested:
        return []
    baselines = ", ".join(f"`{name}`" for name in dict.fromkeys(row["baseline"] for row in rows if row["baseline"]))
    return [
        f"{MARKER}: differs from the CE baseline of its head ({baselines or 'none'}) at Holm-adjusted p < "
        f"{significance.ALPHA} on {', '.join(header(m) for m in tested)}, {scope}; Welch's t over seeds, "
        f"a paired t for post-hoc rows of the baseline's own models; no test with fewer than {MIN_N} seeds"
    ]


def significance_notes(results: Sequence[dict], variants: Sequence[str], rows: Sequence[dict]) -> list[str]:
    """The table's notes on its marker and baselines (none when its rows hold no comparison)."""
    tested = list(dict.fromkeys(m for row in rows for m in row.get("significance", {})))
    if not tested:
        return []
    heads = significance.baselines(significance.series(results, variants))
    names = "; ".join(
        f"{HEAD_TITLES.get(head, head)}: `{entry['baseline']}`"
        if entry["baseline"]
        else f"{HEAD_TITLES.get(head, head)}: no CE variant, no test"
        for head, entry in sorted(heads.items())
    )
    notes = [
        f"{MARKER}: differs from the CE baseline of its head ({names}) at Holm-adjusted p < "
        f"{significance.ALPHA} (per metric, across the table's comparisons); on the primary metrics "
        f"({', '.join(header(m) for m in tested)}); Welch's t over seeds, a paired t over seeds for "
        f"the post-hoc rows of the baseline's own models; no test with fewer than {MIN_N} seeds; "
        "the CSV holds each difference (row - baseline), its 95% CI and the adjusted p"
    ]
    notes += [
        f"{HEAD_TITLES.get(head, head)}: {', '.join(f'`{v}`' for v in entry['passed_over'])} also CE, "
        f"not the baseline (the first CE variant in config order is: `{entry['baseline']}`)"
        for head, entry in sorted(heads.items())
        if entry["passed_over"]
    ]
    return notes


def _row(
    name: str, head: str, runs: Sequence[dict], metrics: Sequence[str], seeds: Sequence[int] | None = None
) -> dict:
    present = [m for m in metrics if all(m in r for r in runs)]
    return {
        "name": name,
        "head": head,
        "seeds": list(seeds if seeds is not None else [r["seed"] for r in runs]),
        "n_test": runs[0]["n_test"],
        "ranked_by": runs[0].get("ranked_by", ""),
        "columns": present,
        **{m: mean_ci([r[m] for r in runs]) for m in present},
    }


def bootstrap_notes(rows: Sequence[dict]) -> list[str]:
    """The crossed bootstrap's intervals of mistake severity, one line per row that has one."""
    booted = [row for row in rows if "bootstrap" in row]
    if not booted:
        return []
    intro = (
        f"mistake severity, crossed bootstrap ({booted[0]['bootstrap']['replicates']} replicates; test images "
        "resampled once per replicate for every row, each variant's runs independently; 2.5-97.5 percentiles; "
        "the CSV's mistake_severity_boot_* columns):"
    )
    lines = []
    for row in booted:
        interval = row["bootstrap"]
        against = (
            f", difference to the baseline [{interval['diff_low']:.3f}, {interval['diff_high']:.3f}]"
            if "diff_low" in interval
            else ""
        )
        lines.append(f"`{row['name']}`: [{interval['low']:.3f}, {interval['high']:.3f}]{against}")
    return [f"{intro} {'; '.join(lines)}"]


def ranking_notes(rows: Sequence[dict]) -> list[str]:
    """Per row, what ranks the classes (the scores its top-k and HOPS read)."""
    return [f"`{row['name']}` ranks by {row['ranked_by']}" for row in rows if row.get("ranked_by")]


def columns_of(rows: Sequence[dict]) -> list[str]:
    """The metric columns of the rows, in their order."""
    return list(dict.fromkeys(c for row in rows for c in row.get("columns", [m for m in METRICS if m in row])))


def best_means(rows: Sequence[dict], columns: Iterable[str]) -> dict[str, float]:
    """The best mean of each column: the highest for HOPS and accuracies, else the lowest."""
    best = {}
    for column in columns:
        means = [row[column]["mean"] for row in rows if row.get(column) and row[column]["mean"] is not None]
        if means:
            best[column] = max(means) if any(word in column for word in HIGHER_IS_BETTER) else min(means)
    return best


def _is_best(row: dict, column: str, best: dict[str, float]) -> bool:
    stat = row.get(column)
    return bool(stat) and stat["mean"] is not None and column in best and math.isclose(stat["mean"], best[column])


def _cell(stat: dict | None, pm: str = " ± ", digits: int = 2, space: str = " ") -> str | None:
    """mean ± CI; below the small-sample rule's n, the mean with its n ("12.34 (n = 2)")."""
    if not stat or stat["mean"] is None:
        return None
    if "n" in stat and too_few(stat["n"]):
        return f"{stat['mean']:.{digits}f}{space}(n = {stat['n']})"
    if stat["ci"] is None:
        return f"{stat['mean']:.{digits}f}"
    return f"{stat['mean']:.{digits}f}{pm}{stat['ci']:.{digits}f}"


def _significant(row: dict, column: str) -> bool:
    """The row differs from its baseline on ``column`` (a primary metric) at Holm-adjusted p < ALPHA."""
    record = (row.get("significance") or {}).get(column)
    return record is not None and record["p_holm"] < significance.ALPHA


# --------------------------------------------------------------------------- formats


def markdown(rows: Sequence[dict], title: str, notes: Sequence[str] = (), label: str = "variant") -> str:
    columns = columns_of(rows)
    best = best_means(rows, columns)
    lines = [f"### {title}", "", f"| {label} | n | " + " | ".join(header(c) for c in columns) + " |"]
    lines.append("|" + "---|" * (len(columns) + 2))
    head = None
    for row in rows:
        if row.get("head") and row["head"] != head and "dataset" not in row:
            head = row["head"]
            lines.append(f"| *{HEAD_TITLES[head]}* |" + " |" * (len(columns) + 1))
        cells = []
        for c in columns:
            text = _cell(row.get(c)) or "–"
            text = f"**{text}**" if _is_best(row, c, best) else text
            cells.append(text + MARKER if _significant(row, c) else text)
        name = f"{row['dataset']} / {row['name']}" if "dataset" in row else row["name"]
        lines.append(f"| {name} | {len(row['seeds'])} | " + " | ".join(cells) + " |")
    lines += ["", *[f"- {note}" for note in notes]]
    return "\n".join(lines) + "\n"


def _tex_escape(text: str) -> str:
    return (
        text.replace("\\", r"\textbackslash{}")
        .replace("_", r"\_")
        .replace("%", r"\%")
        .replace("&", r"\&")
        .replace("#", r"\#")
    )


def latex(rows: Sequence[dict], title: str, label: str = "variant") -> str:
    """A booktabs tabular, ready to \\input; one line per row, type I / type II sections."""
    columns = columns_of(rows)
    best = best_means(rows, columns)
    width = len(columns) + 2
    lines = [
        "% " + title,
        r"\begin{tabular}{l r " + "c " * len(columns) + "}",
        r"\toprule",
        f"{label} & $n$ & " + " & ".join(_tex_escape(header(c)) for c in columns) + r" \\",
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
            text = _cell(row.get(c), pm=r" \pm ", space=r"\ ")
            if text is None:
                cells.append("--")
            else:
                text = rf"\mathbf{{{text}}}" if _is_best(row, c, best) else text
                cells.append(f"${text}" + (r"^{\dagger}" if _significant(row, c) else "") + "$")
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
    tested = list(dict.fromkeys(m for row in rows for m in row.get("significance", {})))
    if any("significance" in row for row in rows):  # appended: the columns above keep their places
        fields += ["baseline", "test"] + [f"{m}_{part}" for m in tested for part in ("diff", "diff_ci", "p_holm")]
    booted = any("bootstrap" in row for row in rows)
    if booted:  # report.bootstrap: the crossed bootstrap's percentile intervals of mistake severity
        fields += [f"mistake_severity_boot_{part}" for part in ("low", "high", "diff_low", "diff_high")]
    buffer = _io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        record = {
            "dataset": row.get("dataset", ""),
            "variant": row["name"],
            "head": row["head"],
            "n": len(row["seeds"]),
            "seeds": " ".join(map(str, row["seeds"])),
            "n_test": row["n_test"],
            "best": " ".join(c for c in columns if _is_best(row, c, best)),
        }
        for c in columns:
            stat = row.get(c) or {"mean": None, "ci": None}
            record[f"{c}_mean"] = "" if stat["mean"] is None else repr(stat["mean"])
            record[f"{c}_ci95"] = "" if stat["ci"] is None else repr(stat["ci"])
        record.update(baseline=row.get("baseline", ""), test=row.get("test", ""))
        for m in tested:
            test = (row.get("significance") or {}).get(m) or {}
            for part, key in (("diff", "difference"), ("diff_ci", "ci"), ("p_holm", "p_holm")):
                record[f"{m}_{part}"] = repr(test[key]) if key in test else ""
        if booted:
            interval = row.get("bootstrap") or {}
            for part in ("low", "high", "diff_low", "diff_high"):
                record[f"mistake_severity_boot_{part}"] = repr(interval[part]) if part in interval else ""
        writer.writerow(record)
    return buffer.getvalue()


def write_tables(
    rows: Sequence[dict], files: Mapping[str, str | Path], title: str, notes: Sequence[str] = (), label: str = "variant"
) -> None:
    """The table as ``files["md"]``, ``files["tex"]``, ``files["csv"]`` and, when asked for,
    ``files["html"]`` (what the Snakemake HTML report shows)."""
    text = markdown(rows, title, notes, label)
    write_text(files["md"], text)
    write_text(files["tex"], latex(rows, title, label))
    write_text(files["csv"], csv_text(rows))
    if "html" in files:
        write_text(files["html"], markdown_to_html(text, title))


def table_files(stem: str | Path) -> dict[str, Path]:
    """{md, tex, csv, html}: the files of one table."""
    return {suffix: Path(f"{stem}.{suffix}") for suffix in ("md", "tex", "csv", "html")}


def not_run_lines(not_run: Mapping[str, Mapping]) -> list[str]:
    """Markdown lines naming the datasets left out and the runs that failed, with why."""
    lines = [f"- {dataset}: not run: {reason}" for dataset, reason in not_run.get("datasets", {}).items()]
    lines += [
        f"- {name}: failed in {record['stage']}: {record['error']}" for name, record in not_run.get("runs", {}).items()
    ]
    return ["### Not run", "", *lines, ""] if lines else []


# --------------------------------------------------------------------------- study tables


def ablation_rows(results_by_dataset: dict[str, Sequence[dict]], primary: Sequence[str] | None = None) -> list[dict]:
    """ce_I, ce_II, haframe_fixed, haframe per dataset (those present), without post-hoc rows;
    with ``primary`` metrics, each tested against its head's CE baseline (Holm per dataset)."""
    rows = []
    for dataset, results in results_by_dataset.items():
        for row in table_rows(results, ABLATION, primary=primary, posthoc=False):
            rows.append({**row, "dataset": dataset})
    return sorted(rows, key=lambda row: (list(results_by_dataset).index(row["dataset"]), ABLATION.index(row["name"])))


def summary_tables(rows_by_dataset: dict[str, Sequence[dict]]) -> tuple[str, str, str]:
    """Top-1 error and mistake severity of every row across datasets (md, tex, csv)."""
    names = list(dict.fromkeys(row["name"] for rows in rows_by_dataset.values() for row in rows))
    datasets = list(rows_by_dataset)
    lookup = {(d, row["name"]): row for d, rows in rows_by_dataset.items() for row in rows}
    metrics = ("top1_error", "mistake_severity")
    best = {(d, m): best_means(rows_by_dataset[d], [m]).get(m) for d in datasets for m in metrics}

    def cell(d, name, m, pm, bold, space=" "):
        row = lookup.get((d, name))
        text = _cell(row.get(m), pm=pm, space=space) if row else None
        if text is None:
            return None
        return bold(text) if best[(d, m)] is not None and math.isclose(row[m]["mean"], best[(d, m)]) else text

    md = [
        "### Summary: top-1 error (%) / mistake severity",
        "",
        "| variant | " + " | ".join(f"{d} top-1 | {d} severity" for d in datasets) + " |",
        "|" + "---|" * (1 + 2 * len(datasets)),
    ]
    tex = [
        "% summary across datasets",
        r"\begin{tabular}{l " + "c c " * len(datasets) + "}",
        r"\toprule",
        "variant & " + " & ".join(rf"\multicolumn{{2}}{{c}}{{{_tex_escape(d)}}}" for d in datasets) + r" \\",
        " & " + " & ".join("top-1 & severity" for _ in datasets) + r" \\",
        r"\midrule",
    ]
    buffer = _io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["variant"] + [f"{d}_{m}_{p}" for d in datasets for m in metrics for p in ("mean", "ci95")])
    for name in names:
        md_cells, tex_cells, csv_cells = [], [], []
        for d in datasets:
            for m in metrics:
                marked = _significant(lookup.get((d, name)) or {}, m)
                text = cell(d, name, m, " ± ", lambda t: f"**{t}**")
                md_cells.append(text + (MARKER if marked else "") if text else "–")
                text = cell(d, name, m, r" \pm ", lambda t: rf"\mathbf{{{t}}}", r"\ ")
                tex_cells.append(f"${text}" + (r"^{\dagger}" if marked else "") + "$" if text else "--")
                stat = (lookup.get((d, name)) or {}).get(m) or {"mean": None, "ci": None}
                csv_cells += [
                    "" if stat["mean"] is None else repr(stat["mean"]),
                    "" if stat["ci"] is None else repr(stat["ci"]),
                ]
        md.append(f"| {name} | " + " | ".join(md_cells) + " |")
        tex.append(f"{_tex_escape(name)} & " + " & ".join(tex_cells) + r" \\")
        writer.writerow([name] + csv_cells)
    tex += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(md) + "\n", "\n".join(tex) + "\n", buffer.getvalue()
