"""What the report rules call: a dataset's main table and figures, the study's ablation,
summary and scorecard tables, and a snapshot of whatever runs have finished."""

from __future__ import annotations

import csv
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .. import figures
from ..fileio import load_npz, read_json, write_text
from ..metrics import ahd_curve, mistake_distance_shares
from ..run_status import failures
from . import scorecard, significance, tables
from .html import markdown_to_html


def _csv_columns(path: str | Path) -> dict[str, np.ndarray]:
    """Every column of a per-epoch CSV as floats (an empty cell: NaN)."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return (
        {key: np.array([float(row[key]) if row[key] != "" else np.nan for row in rows]) for key in rows[0]}
        if rows
        else {}
    )


def report_dataset(
    dataset: str,
    variants: list[str],
    *,
    metrics_files: Sequence[str | Path],
    predictions_files: Sequence[str | Path],
    history_files: Sequence[str | Path],
    collapse_files: Sequence[str | Path],
    distances_file: str | Path,
    table: Mapping[str, str | Path],
    hierarchy_table: Mapping[str, str | Path],
    figure_files: Mapping[str, Sequence[str | Path]],
    failed_runs: Mapping[str, Mapping] | None = None,
    series: Sequence[str] = (),
    primary_metrics: Sequence[str] = significance.DEFAULT_PRIMARY,
) -> list[dict]:
    """The dataset's main table and its table of the successors' metrics (``table``,
    ``hierarchy_table``: md, tex, csv, html) and its figures (``figure_files``: error_vs_severity,
    ahd_at_k, training_curves, neural_collapse, mistake_distances, each to every path given)
    from its runs' files (the four lists in the same run order); ``failed_runs`` (name:
    failure record) are named in the notes; ``series``, the study's variants and post-hoc
    chains in order, fixes each one's colour across datasets and figures; each row is tested
    against its head's CE baseline on the ``primary_metrics`` a table shows (significance.py)."""
    results = [read_json(path) for path in metrics_files]
    rows = tables.table_rows(results, variants, primary=primary_metrics)
    n_test = sorted({r["n_test"] for r in results})
    dropped = any(r["drop_last"] for r in results)
    notes = [
        *tables.NOTES,
        f"test images scored per run: {', '.join(map(str, n_test))}"
        + (
            " (the authors' drop_last reproduced: the last partial batch is not scored)"
            if dropped
            else " (every test image)"
        ),
    ]
    notes += [f"training data path: {path}" for path in sorted({r["data_path"] for r in results if "data_path" in r})]
    notes += [
        f"not in the table, failed in {record['stage']}: {name} ({record['error']})"
        for name, record in (failed_runs or {}).items()
    ]
    tables.write_tables(
        rows,
        table,
        f"{dataset}: test metrics",
        [*notes, *tables.significance_notes(results, variants, rows), *tables.ranking_notes(rows)],
    )
    hierarchy_rows = tables.table_rows(
        results, variants, [*tables.HIERARCHY_METRICS, *tables.level_metrics(results)], primary=primary_metrics
    )
    tables.write_tables(
        hierarchy_rows,
        hierarchy_table,
        f"{dataset}: HOPS, full-path and per-level accuracy, calibration",
        [
            *tables.HIERARCHY_NOTES,
            *notes[:1],
            *tables.significance_notes(results, variants, hierarchy_rows),
            *tables.ranking_notes(hierarchy_rows),
        ],
    )
    colours = figures.series_colours([*series, *(row["name"] for row in rows)])
    figures.error_vs_severity(
        rows,
        f"{dataset}: top-1 error vs mistake severity (95% CI)",
        *figure_files["error_vs_severity"],
        colours=colours,
    )
    D = np.load(distances_file)
    curves: dict[str, list[np.ndarray]] = {}
    shares: dict[str, list[np.ndarray]] = {}
    histories: dict[str, list[dict[str, np.ndarray]]] = {}
    collapse: dict[str, list[dict[str, np.ndarray]]] = {}
    runs = zip(results, predictions_files, history_files, collapse_files, strict=True)
    for result, predictions_file, history_file, collapse_file in runs:
        predictions = load_npz(predictions_file)
        for key in sorted(predictions):
            if key.startswith("ranked"):  # the run's own ranking, then each post-hoc chain's
                name = result["variant"] + key.removeprefix("ranked").replace("_", "+", 1)
                curves.setdefault(name, []).append(ahd_curve(predictions[key], predictions["targets"], D))
                shares.setdefault(name, []).append(
                    mistake_distance_shares(predictions[key][:, 0], predictions["targets"], D)
                )
        histories.setdefault(result["variant"], []).append(_csv_columns(history_file))
        collapse.setdefault(result["variant"], []).append(_csv_columns(collapse_file))
    figures.ahd_curves(curves, f"{dataset}: AHD@k (mean, range over seeds)", *figure_files["ahd_at_k"], colours=colours)
    figures.training_curves(
        histories,
        f"{dataset}: training curves (mean, range over seeds)",
        *figure_files["training_curves"],
        colours=colours,
    )
    figures.collapse_curves(
        collapse,
        f"{dataset}: neural collapse on the training images (mean, range over seeds)",
        *figure_files["neural_collapse"],
        colours=colours,
    )
    figures.mistake_distances(
        shares,
        f"{dataset}: where mistakes land (mean, range over seeds)",
        *figure_files["mistake_distances"],
        colours=colours,
    )
    return rows


def report_study(
    results_by_dataset: dict[str, list[dict]],
    variants_by_dataset: dict[str, list[str]],
    *,
    ablation: Mapping[str, str | Path],
    summary: Mapping[str, str | Path],
    scorecard_files: Mapping[str, str | Path],
    reference_file: str | Path | None,
    notes_file: str | Path | None = None,
    not_run: Mapping[str, Mapping] | None = None,
    primary_metrics: Sequence[str] = significance.DEFAULT_PRIMARY,
) -> dict:
    """Ablation and summary tables (md, tex, csv, html) across datasets and the scorecard (md,
    csv, html) against the reference results, with each source's notes; the summary lists
    what was ``not_run`` (``{"datasets": {name: reason}, "runs": {name: failure record}}``);
    the rows are tested against their head's CE baseline on the ``primary_metrics``, per
    dataset (the summary marks those of its two metrics)."""
    rows_by_dataset = {
        d: tables.table_rows(results, variants_by_dataset[d], primary=primary_metrics)
        for d, results in results_by_dataset.items()
    }
    ablation_rows = tables.ablation_rows(results_by_dataset, primary_metrics)
    tables.write_tables(
        ablation_rows,
        ablation,
        "Ablation: learnable vs fixed frame, with and without the cosine loss",
        [
            tables.NOTES[0],
            *tables.study_significance_notes(ablation_rows, "per dataset, among the ablation's variants"),
        ],
        label="dataset / variant",
    )
    md, tex, csv_text = tables.summary_tables(rows_by_dataset)
    all_rows = [row for rows in rows_by_dataset.values() for row in rows]
    notes = tables.study_significance_notes(all_rows, "per dataset, as in its table")
    md += "".join(["\n", *(f"- {note}\n" for note in notes)]) if notes else ""
    md += "\n".join(["", *tables.not_run_lines(not_run or {})])
    for suffix, text in (("md", md), ("tex", tex), ("csv", csv_text)):
        write_text(summary[suffix], text)
    if "html" in summary:
        write_text(summary["html"], markdown_to_html(md, "Summary"))
    cards = scorecard.scorecard(rows_by_dataset, scorecard.read_reference(reference_file)) if reference_file else []
    source = str(reference_file) if reference_file else "no reference file (config report.reference_results)"
    notes = scorecard.read_notes(notes_file) if notes_file else {}
    card_text = scorecard.scorecard_markdown(cards, source, notes)
    write_text(scorecard_files["md"], card_text)
    if "html" in scorecard_files:
        write_text(scorecard_files["html"], markdown_to_html(card_text, "Scorecard"))
    write_text(scorecard_files["csv"], scorecard.scorecard_csv(cards))
    return {"ablation_rows": len(ablation_rows), "scorecard": len(cards)}


def snapshot_report(
    expected: dict[str, dict[str, list[int]]],
    results_dir: str | Path,
    out_dir: str | Path,
    unavailable: Mapping[str, str] | None = None,
    primary_metrics: Sequence[str] = significance.DEFAULT_PRIMARY,
) -> dict:
    """Tables from whatever runs have finished, marking every missing (dataset, variant, seed)
    and saying which of those failed (their failed.json) and which datasets were left out.

    ``expected`` maps dataset -> variant -> seeds of the configured study; the rows are tested
    against their head's CE baseline on the ``primary_metrics``.
    """
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    missing, found = [], 0
    lines = ["# Snapshot report", "", f"Built {time.strftime('%Y-%m-%d %H:%M:%S')} from the runs finished so far.", ""]
    for dataset, variants in expected.items():
        results = []
        for variant, seeds in variants.items():
            for seed in seeds:
                run_dir = results_dir / dataset / "runs" / variant / f"seed{seed}"
                if (run_dir / "metrics.json").is_file():
                    results.append(read_json(run_dir / "metrics.json"))
                else:
                    missing.append((dataset, variant, seed, failures([run_dir]).get(str(run_dir))))
        found += len(results)
        if results:
            rows = tables.table_rows(results, list(variants), primary=primary_metrics)
            tables.write_tables(
                rows,
                tables.table_files(out_dir / dataset),
                f"{dataset}: test metrics (snapshot)",
                [*tables.NOTES, *tables.significance_notes(results, list(variants), rows)],
            )
            lines.append(
                tables.markdown(rows, f"{dataset} ({len(results)} of {sum(map(len, variants.values()))} runs)")
            )
        else:
            lines.append(f"### {dataset}\n\nno finished runs yet\n")
    lines += ["## Missing runs", ""]
    lines += [
        f"- {d} / {v} / seed {s}" + (f": failed in {record['stage']}: {record['error']}" if record else "")
        for d, v, s, record in missing
    ] or ["- none: the study is complete"]
    lines += ["", *(f"- {dataset}: not run: {reason}" for dataset, reason in (unavailable or {}).items())]
    text = "\n".join(lines) + "\n"
    write_text(out_dir / "snapshot.md", text)
    write_text(out_dir / "snapshot.html", markdown_to_html(text, "Snapshot"))
    return {"found": found, "missing": len(missing), "failed": sum(record is not None for *_, record in missing)}
