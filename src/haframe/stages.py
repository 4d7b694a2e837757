"""Workflow stages that compose several library parts; one function per rule script."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from . import figures, frames
from .data.prepared import read_classes
from .hierarchy import HierarchyError, check_class_order, read_tsv
from .parsers import read_hierarchy
from .io import atomic_path, save_npz, write_json, write_text


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
        out_dir / "distance_histogram.png",
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
        "target cosines between class vectors, classes in tree order", out_dir / "cosines.png",
    )
    return summary
