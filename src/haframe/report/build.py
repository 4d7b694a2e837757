"""What the report rules call: a dataset's main table and figures, the study's ablation,
summary and scorecard tables, and a snapshot of whatever runs have finished."""

from __future__ import annotations

import csv
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .. import figures
from ..fileio import load_npz, write_text
from ..metrics import ahd_curve, mistake_distance_shares
from ..run_status import failures
from ..sealed import read_metrics
from . import bootstrap as bootstrap_intervals
from . import fronts, scorecard, selection, significance, tables
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
    tuning: Mapping | None = None,
    tuning_files: Mapping[str, Mapping[str, str | Path]] | None = None,
    dominance_files: Mapping[str, str | Path] | None = None,
    bootstrap: int = 0,
    method_notes: Mapping[str, str] | None = None,
) -> list[dict]:
    """The dataset's main table and its table of the successors' metrics (``table``,
    ``hierarchy_table``: md, tex, csv, html) and its figures (``figure_files``: error_vs_severity,
    ahd_at_k, training_curves, neural_collapse, mistake_distances, each to every path given)
    from its runs' files (the four lists in the same run order); ``failed_runs`` (name:
    failure record) are named in the notes; ``series``, the study's variants and post-hoc
    chains in order, fixes each one's colour across datasets and figures; each row is tested
    against its head's CE baseline on the ``primary_metrics`` a table shows (significance.py).

    Under the tuned protocol (``tuning``: its settings) the runs are trials: the trial and
    selection tables go to ``tuning_files`` (``trials``, ``selection``: md, csv, html), and the
    tables and figures show each repetition's selected trial. The fronts figure and its
    dominance table (``dominance_files``: md, csv) show every trial (published: every variant).
    ``bootstrap`` > 0: that many crossed-bootstrap replicates of mistake severity (bootstrap.py);
    ``method_notes``: per variant, its method's line on the values it ran with."""
    results = [read_metrics(path) for path in metrics_files]
    runs = list(zip(results, predictions_files, history_files, collapse_files, strict=True))
    trials = results
    if tuning:
        selection.write_tuning_tables(
            dataset, results, failed_runs or {}, tuning, tuning_files["trials"], tuning_files["selection"]
        )
        chosen = {id(r) for r in selection.selected_results(results, tuning["selection"], tuning.get("tolerance"))}
        runs = [run for run in runs if id(run[0]) in chosen]
        results = [run[0] for run in runs]
    D = np.load(distances_file)
    curves: dict[str, list[np.ndarray]] = {}
    shares: dict[str, list[np.ndarray]] = {}
    top1: dict[str, list[np.ndarray]] = {}  # d(top-1 prediction, label) per run, for the bootstrap
    histories: dict[str, list[dict[str, np.ndarray]]] = {}
    collapse: dict[str, list[dict[str, np.ndarray]]] = {}
    for result, predictions_file, history_file, collapse_file in runs:
        predictions = load_npz(predictions_file)
        for key in sorted(predictions):
            if key.startswith("ranked"):  # the run's own ranking, then each post-hoc chain's
                name = result["variant"] + key.removeprefix("ranked").replace("_", "+", 1)
                curves.setdefault(name, []).append(ahd_curve(predictions[key], predictions["targets"], D))
                top1.setdefault(name, []).append(D[predictions[key][:, 0], predictions["targets"]])
                shares.setdefault(name, []).append(
                    mistake_distance_shares(predictions[key][:, 0], predictions["targets"], D)
                )
        histories.setdefault(result["variant"], []).append(_csv_columns(history_file))
        collapse.setdefault(result["variant"], []).append(_csv_columns(collapse_file))
    rows = tables.table_rows(results, variants, primary=primary_metrics)
    if bootstrap:
        _bootstrap_severity(rows, results, variants, top1, bootstrap)
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
    notes += [f"`{variant}`: {note}" for variant, note in (method_notes or {}).items()]
    notes += control_notes(results)
    if tuning:
        notes.append(
            f"tuned protocol: each row is the selected trial of each of {tuning['repeats']} repetitions "
            f"({tuning['trials']} trials each, rule `{tuning['selection']}` on validation metrics; "
            f"{dataset}_trials and {dataset}_selection list them); CIs and tests are over repetitions"
        )
    notes += [
        f"not in the table, failed in {record['stage']}: {name} ({record['error']})"
        for name, record in (failed_runs or {}).items()
    ]
    tables.write_tables(
        rows,
        table,
        f"{dataset}: test metrics",
        [
            *notes,
            *tables.significance_notes(results, variants, rows),
            *tables.bootstrap_notes(rows),
            *tables.ranking_notes(rows),
        ],
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
    if dominance_files is not None:
        points_from = trials if tuning else results
        every_row = [*rows, *hierarchy_rows]
        _fronts(dataset, points_from, variants, every_row, tuning, figure_files["fronts"], dominance_files, colours)
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


def control_notes(results: Sequence[dict]) -> list[str]:
    """Per control variant, what it is and how much of the true tree its shuffled trees kept."""
    kept: dict[str, list[float]] = {}
    for result in results:
        if "control" in result:
            kept.setdefault(result["variant"], []).append(result["control"]["distance_correlation"])
    return [
        f"`{variant}`: shuffled-hierarchy control: trained on the same tree with the classes at permuted leaf "
        f"slots (one permutation per seed or repetition), scored on the true tree; correlation of true and "
        f"shuffled class distances over class pairs: {np.mean(r):.3f} (from {min(r):.3f} to {max(r):.3f})"
        for variant, r in kept.items()
    ]


def _bootstrap_severity(
    rows: Sequence[dict],
    results: Sequence[dict],
    variants: Sequence[str],
    distances: Mapping[str, Sequence[np.ndarray]],
    replicates: int,
) -> None:
    """Each row's crossed-bootstrap interval of mistake severity (and of its difference to its
    head's CE baseline) as its ``bootstrap`` record, from ``distances``: per row, each run's
    d(top-1 prediction, label)."""
    heads = significance.baselines(significance.series(results, variants))
    for head, entry in heads.items():
        names = [row["name"] for row in rows if row["head"] == head and row["name"] in distances]
        models = {name: name.split("+")[0] for name in names}
        found = bootstrap_intervals.crossed_bootstrap(
            {n: distances[n] for n in names}, models, replicates, entry["baseline"]
        )
        for row in rows:
            if row["name"] in found:
                row["bootstrap"] = {"replicates": replicates, **found[row["name"]]}


FRONT_PANELS = (("top1_error", "mistake_severity"), ("top1_error", "ahd@5"), ("top1_error", "hops"))


def _fronts(
    dataset: str,
    results: Sequence[dict],
    variants: Sequence[str],
    rows: Sequence[dict],
    tuning: Mapping | None,
    figure_paths: Sequence[str | Path],
    dominance_files: Mapping[str, str | Path],
    colours: Mapping[str, tuple],
) -> None:
    """The trade-off fronts figure and its dominance table. Tuned: every trial's validation
    metrics are the points (a post-hoc chain's from the same trials); published: each series'
    mean test metrics, one point each. The markers: the rows' test means and CIs."""
    stats = {}
    for row in rows:
        stats.setdefault(row["name"], {}).update({m: row[m] for m in row["columns"]})
    entries = significance.series(results, variants)
    split = "validation" if tuning else "test (mean over seeds)"
    per_series: dict[str, list[Mapping]] = {}  # the metrics of each point of each series
    for entry in entries:
        if tuning:  # every trial, a post-hoc chain's from the same trials
            found = [r["val"] for r in results if r["variant"] == entry["variant"]]
            per_series[entry["name"]] = [v[entry["chain"]] for v in found] if entry["chain"] else found
        else:
            per_series[entry["name"]] = [{m: stat["mean"] for m, stat in stats[entry["name"]].items()}]
    panels, markdown, compared_by_y = [], [f"# {dataset}: trade-off fronts ({split} metrics)", ""], {}
    for x, y in FRONT_PANELS:
        points = {}
        for name, values in per_series.items():
            if all(x in v and y in v for v in values):
                points[name] = (
                    np.array([v[x] for v in values], dtype=float),
                    np.array([v[y] for v in values], dtype=float),
                )
        if not points:
            continue
        selected = {
            name: (stats[name][x]["mean"], stats[name][x]["ci"], stats[name][y]["mean"], stats[name][y]["ci"])
            for name in points
            if name in stats and x in stats[name] and y in stats[name]
        }
        maximise = y in ("hops", "hops@20", "hops@5")
        x_label, y_label = f"{split} {tables.header(x)}", f"{split} {tables.header(y)}"
        panels.append(fronts.FrontPanel(x_label, y_label, points, selected, maximise))
        compared = fronts.compare_fronts(points, maximise_y=maximise)
        markdown.append(fronts.dominance_markdown(compared, x_label, y_label))
        compared_by_y[y] = compared
    marked = [
        name
        for entry in significance.baselines(entries).values()
        if entry["baseline"]
        for name in (entry["baseline"], f"{entry['baseline']}+crm")
    ]
    title = f"{dataset}: trade-off fronts ({split} points; markers: the table's test means, 95% CI)"
    figures.trade_off_fronts(panels, title, *figure_paths, colours=colours, marked=marked)
    text = "\n".join(markdown) + "\n"
    write_text(dominance_files["md"], text)
    write_text(dominance_files["html"], markdown_to_html(text, f"{dataset}: fronts"))
    write_text(dominance_files["csv"], fronts.dominance_csv(compared_by_y))


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
    notes = scorecard.read_notes(notes_file) if notes_file else {}
    reference = scorecard.read_reference(reference_file) if reference_file else []
    cards = scorecard.scorecard(rows_by_dataset, reference, notes)
    source = str(reference_file) if reference_file else "no reference file (config report.reference_results)"
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
    tuned: bool = False,
) -> dict:
    """Tables from whatever runs have finished, marking every missing (dataset, variant, seed)
    and saying which of those failed (their failed.json) and which datasets were left out.

    ``expected`` maps dataset -> variant -> seeds of the configured study; the rows are tested
    against their head's CE baseline on the ``primary_metrics``. Under the tuned protocol
    (``tuned``) a row pools every finished trial: the selection waits for the whole study.
    """
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    missing, found = [], 0
    lines = ["# Snapshot report", "", f"Built {time.strftime('%Y-%m-%d %H:%M:%S')} from the runs finished so far.", ""]
    if tuned:
        lines += [
            "Tuned protocol: each row pools every finished trial of its variant, not the selected ones (the "
            "selection reads every trial of a repetition: the study's report makes it).",
            "",
        ]
    for dataset, variants in expected.items():
        results = []
        for variant, seeds in variants.items():
            for seed in seeds:
                run_dir = results_dir / dataset / "runs" / variant / f"seed{seed}"
                if (run_dir / "metrics.json").is_file():
                    results.append(read_metrics(run_dir / "metrics.json"))
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
