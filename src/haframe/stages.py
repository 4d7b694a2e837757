"""Workflow stages that compose several library parts; one function per rule script."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np

from . import figures, frames, report
from .data.prepared import read_classes
from .hierarchy import HierarchyError, check_class_order, read_tsv
from .parsers import read_hierarchy
from .io import atomic_path, load_npz, read_json, save_npz, write_json, write_text
from .metrics import ahd_curve


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array)


def parse_hierarchy(
    source: str | Path,
    fmt: str,
    out_dir: str | Path,
    *,
    class_order: str = "sorted",
    classes_file: str | Path | None = None,
    expected: dict | None = None,
) -> dict:
    """Parse and validate a hierarchy; write it in the project's format with D, level labels
    and a summary. ``classes_file`` (the dataset's class order) and ``expected`` (class count,
    height) are checked when given."""
    out_dir = Path(out_dir)
    hierarchy = read_hierarchy(source, fmt, class_order)
    if classes_file is not None:
        check_class_order(hierarchy, read_classes(classes_file), source=str(source))
    summary = hierarchy.summary()
    for key, found in (("classes", summary["num_classes"]), ("height", summary["height"])):
        wanted = (expected or {}).get(key)
        if wanted is not None and wanted != found:
            raise HierarchyError(f"{source}: expected {key} = {wanted} (config), found {found}")
    write_text(out_dir / "hierarchy.tsv", hierarchy.to_tsv())
    _save_npy(out_dir / "distances.npy", hierarchy.distance_matrix())
    _save_npy(out_dir / "levels.npy", hierarchy.level_labels())
    write_json(out_dir / "summary.json", summary)
    figures.distance_histogram(
        summary["distance_histogram"], f"height {summary['height']}, K={summary['num_classes']}",
        out_dir / "distance_histogram.png", out_dir / "distance_histogram.svg",
    )
    return summary


def solve_frames(hierarchy_file: str | Path, distances_file: str | Path, gamma: float, solver: str, out_dir: str | Path) -> dict:
    """Solve the HAFrame similarity once (and the ETF), check a seed-0 draw, plot both."""
    out_dir = Path(out_dir)
    D = np.load(distances_file)
    order = read_tsv(hierarchy_file).tree_order()
    K = D.shape[0]
    start = time.perf_counter()
    solved = frames.solve_similarity(D, gamma, solver)
    seconds = time.perf_counter() - start
    etf = frames.etf_similarity(K)
    etf_factor = frames.psd_factor(etf)
    errors = {
        "haframe": frames.check_frame(frames.draw_frame(solved.factor, K, 0), solved.S),
        "etf": frames.check_frame(frames.draw_frame(etf_factor, K, 0), etf),
    }
    save_npz(out_dir / "haframe.npz", S=solved.S, factor=solved.factor, s=solved.s, exact_s=solved.exact_s, gamma=gamma)
    save_npz(out_dir / "etf.npz", S=etf, factor=etf_factor)
    summary = {
        "num_classes": K, "gamma": gamma, "solver": solver, "s": solved.s, "exact_s": solved.exact_s,
        "solve_seconds": seconds, "max_abs_WWt_minus_S": errors,
    }
    write_json(out_dir / "summary.json", summary)
    figures.cosine_heatmaps(
        [(f"HAFrame (gamma={gamma}, s={solved.s:.4f})", solved.S[np.ix_(order, order)]), ("simplex ETF", etf)],
        "target cosines between class vectors, classes in tree order", out_dir / "cosines.png", out_dir / "cosines.svg",
    )
    return summary


def _history_arrays(path: str | Path) -> dict[str, np.ndarray]:
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {key: np.array([float(row[key]) for row in rows]) for key in ("epoch", "val_top1_error", "train_loss")}


def report_dataset(
    dataset: str, variants: list[str], run_dirs: list[str | Path], distances_file: str | Path,
    tables_dir: str | Path, figures_dir: str | Path,
) -> list[dict]:
    """The dataset's main table and its figures from finished run directories."""
    run_dirs = [Path(d) for d in run_dirs]
    results = [read_json(d / "metrics.json") for d in run_dirs]
    rows = report.table_rows(results, variants)
    n_test = sorted({r["n_test"] for r in results})
    dropped = any(r["drop_last"] for r in results)
    notes = [*report.NOTES, f"test images scored per run: {', '.join(map(str, n_test))}"
             + (" (the authors' drop_last reproduced: the last partial batch is not scored)" if dropped else " (every test image)")]
    report.write_tables(rows, Path(tables_dir) / dataset, f"{dataset}: test metrics", notes)
    figures_dir = Path(figures_dir)
    stem = figures_dir / dataset
    figures.error_vs_severity(rows, f"{dataset}: top-1 error vs mistake severity (95% CI)",
                              f"{stem}_error_vs_severity.png", f"{stem}_error_vs_severity.svg")
    D = np.load(distances_file)
    curves: dict[str, list[np.ndarray]] = {}
    histories: dict[str, list[dict[str, np.ndarray]]] = {}
    for run_dir, result in zip(run_dirs, results):
        predictions = load_npz(run_dir / "predictions.npz")
        curves.setdefault(result["variant"], []).append(ahd_curve(predictions["ranked"], predictions["targets"], D))
        if "ranked_crm" in predictions:
            curves.setdefault(result["variant"] + "+crm", []).append(ahd_curve(predictions["ranked_crm"], predictions["targets"], D))
        histories.setdefault(result["variant"], []).append(_history_arrays(run_dir / "history.csv"))
    figures.ahd_curves(curves, f"{dataset}: AHD@k (mean, range over seeds)", f"{stem}_ahd_at_k.png", f"{stem}_ahd_at_k.svg")
    figures.training_curves(histories, f"{dataset}: training curves (mean, range over seeds)",
                            f"{stem}_training_curves.png", f"{stem}_training_curves.svg")
    return rows


def report_study(
    results_by_dataset: dict[str, list[dict]], variants_by_dataset: dict[str, list[str]],
    tables_dir: str | Path, reference_file: str | Path | None,
) -> dict:
    """Ablation and summary tables across datasets and the scorecard against references."""
    tables_dir = Path(tables_dir)
    rows_by_dataset = {d: report.table_rows(results, variants_by_dataset[d]) for d, results in results_by_dataset.items()}
    ablation = report.ablation_rows(results_by_dataset)
    report.write_tables(ablation, tables_dir / "ablation", "Ablation: learnable vs fixed frame, with and without the cosine loss",
                        [report.NOTES[0]], label="dataset / variant")
    md, tex, csv_text = report.summary_tables(rows_by_dataset)
    write_text(tables_dir / "summary.md", md)
    write_text(tables_dir / "summary.tex", tex)
    write_text(tables_dir / "summary.csv", csv_text)
    cards = report.scorecard(rows_by_dataset, report.read_reference(reference_file)) if reference_file else []
    source = str(reference_file) if reference_file else "no reference file (config report.reference_results)"
    write_text(tables_dir / "scorecard.md", report.scorecard_markdown(cards, source))
    write_text(tables_dir / "scorecard.csv", report.scorecard_csv(cards))
    return {"ablation_rows": len(ablation), "scorecard": len(cards)}


def snapshot_report(expected: dict[str, dict[str, list[int]]], results_dir: str | Path, out_dir: str | Path) -> dict:
    """Tables from whatever runs have finished, marking every missing (dataset, variant, seed).

    ``expected`` maps dataset -> variant -> seeds of the configured study.
    """
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    missing, found = [], 0
    lines = ["# Snapshot report", "", f"Built {time.strftime('%Y-%m-%d %H:%M:%S')} from the runs finished so far.", ""]
    for dataset, variants in expected.items():
        results = []
        for variant, seeds in variants.items():
            for seed in seeds:
                path = results_dir / dataset / "runs" / variant / f"seed{seed}" / "metrics.json"
                if path.is_file():
                    results.append(read_json(path))
                else:
                    missing.append((dataset, variant, seed))
        found += len(results)
        if results:
            rows = report.table_rows(results, list(variants))
            report.write_tables(rows, out_dir / dataset, f"{dataset}: test metrics (snapshot)", report.NOTES)
            lines.append(report.markdown(rows, f"{dataset} ({len(results)} of {sum(map(len, variants.values()))} runs)"))
        else:
            lines.append(f"### {dataset}\n\nno finished runs yet\n")
    lines += ["## Missing runs", ""]
    lines += [f"- {d} / {v} / seed {s}" for d, v, s in missing] or ["- none: the study is complete"]
    write_text(out_dir / "snapshot.md", "\n".join(lines) + "\n")
    return {"found": found, "missing": len(missing)}
