"""The files of a dataset's hierarchy and frame stages: their names, how they are built, and
``RunAssets``, everything a run reads from them, loaded once.

    results/{dataset}/hierarchy/  hierarchy.tsv, distances.npy (K x K), levels.npy (K x (H+1)),
                                  summary.json, distance_histogram.{png,svg}
    results/{dataset}/frames/     haframe.npz, etf.npz (S and a factor of S), summary.json,
                                  cosines.{png,svg}
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import frames
from .data.prepared import read_classes
from .fileio import atomic_path, load_npz, save_npz, write_json, write_text
from .hierarchy import Hierarchy, HierarchyError, check_class_order, read_tsv
from .parsers import read_hierarchy

if TYPE_CHECKING:
    from .runs import Control

HIERARCHY_FILES = {
    "tsv": "hierarchy.tsv",
    "distances": "distances.npy",
    "levels": "levels.npy",
    "summary": "summary.json",
    "histogram": "distance_histogram.png",
    "histogram_svg": "distance_histogram.svg",
}
FRAME_FILES = {
    "haframe": "haframe.npz",
    "etf": "etf.npz",
    "summary": "summary.json",
    "heatmap": "cosines.png",
    "heatmap_svg": "cosines.svg",
}


@dataclass(frozen=True)
class SolvedFrame:
    """Target cosines S (K x K) and a factor F with F^T F = S (frame stage, float64)."""

    S: np.ndarray
    factor: np.ndarray


@dataclass(frozen=True)
class RunAssets:
    """What a run reads from its dataset's hierarchy and frame stages."""

    hierarchy: Hierarchy
    distances: np.ndarray  # K x K int64, class-index order
    levels: np.ndarray  # K x (H+1) per-level labels of the padded tree, level 0 = leaf
    frames: Mapping[str, SolvedFrame]

    @classmethod
    def load(
        cls, *, hierarchy: str | Path, distances: str | Path, levels: str | Path, haframe: str | Path, etf: str | Path
    ) -> RunAssets:
        solved = {}
        for name, path in (("haframe", haframe), ("etf", etf)):
            arrays = load_npz(path)
            solved[name] = SolvedFrame(S=arrays["S"], factor=arrays["factor"])
        return cls(hierarchy=read_tsv(hierarchy), distances=np.load(distances), levels=np.load(levels), frames=solved)

    @property
    def num_classes(self) -> int:
        return int(self.levels.shape[0])

    @property
    def height(self) -> int:
        return int(self.levels.shape[1] - 1)

    @property
    def level_sizes(self) -> list[int]:
        """Classes per level, leaf level first, root excluded."""
        return [int(self.levels[:, level].max()) + 1 for level in range(self.height)]

    def shuffled(self, permutation: np.ndarray) -> RunAssets:
        """The same tree with class i at the leaf slot of class ``permutation[i]``: the shape, the
        classes and their order stay, what is derived from where a class sits moves with it
        (distances D' = P D P^T, level labels, the HAFrame solution: S' = P S P^T and its
        factor's columns). The ETF is not derived from the tree and stays."""
        p = np.asarray(permutation)
        paths = tuple(self.hierarchy.paths[j][:-1] + (name,) for name, j in zip(self.hierarchy.classes, p, strict=True))
        hierarchy = Hierarchy(classes=self.hierarchy.classes, paths=paths)
        solved = self.frames["haframe"]
        frames = {**self.frames, "haframe": SolvedFrame(S=solved.S[np.ix_(p, p)], factor=solved.factor[:, p])}
        return RunAssets(hierarchy, hierarchy.distance_matrix(), hierarchy.level_labels(), frames)

    def for_model(self, control: Control | None) -> RunAssets:
        """The assets a run's model is built and trained from: the true ones, or under a
        ``shuffled_hierarchy`` control the shuffled ones (its permutation from its seed)."""
        if control is None:
            return self
        return self.shuffled(leaf_permutation(control.seed, self.num_classes))

    def draw_frame(self, name: str, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """The frame W (K x dim) of solution ``name`` drawn for ``seed``, checked, and its S."""
        solved = self.frames[name]
        W = frames.draw_frame(solved.factor, dim, seed)
        frames.check_frame(W, solved.S)
        return W, solved.S


def leaf_permutation(seed: int, num_classes: int) -> np.ndarray:
    """The shuffled-hierarchy control's permutation of the leaf slots, from its recorded seed."""
    return np.random.default_rng(seed).permutation(num_classes)


def distance_correlation(true: np.ndarray, shuffled: np.ndarray) -> float:
    """Pearson correlation of two distance matrices over the class pairs (i < j): how much of
    the true tree's structure a shuffled one keeps (about 0 for a random placement)."""
    upper = np.triu_indices(true.shape[0], k=1)
    return float(np.corrcoef(true[upper], shuffled[upper])[0, 1])


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array)


def build_hierarchy_stage(
    source: str | Path,
    fmt: str,
    outputs: Mapping[str, str | Path],
    *,
    class_order: str = "sorted",
    classes_file: str | Path | None = None,
    expected: Mapping[str, int | None] | None = None,
) -> dict:
    """Parse and validate a hierarchy; write the ``HIERARCHY_FILES`` to ``outputs`` (by key).

    ``classes_file`` (the dataset's class order) and ``expected`` (``classes``, ``height``) are
    checked when given.
    """
    from . import figures  # matplotlib is slow to import and only the stages draw

    hierarchy = read_hierarchy(source, fmt, class_order)
    if classes_file is not None:
        check_class_order(hierarchy, read_classes(classes_file), source=str(source))
    summary = hierarchy.summary()
    for key, found in (("classes", summary["num_classes"]), ("height", summary["height"])):
        wanted = (expected or {}).get(key)
        if wanted is not None and wanted != found:
            raise HierarchyError(f"{source}: expected {key} = {wanted} (config), found {found}")
    write_text(outputs["tsv"], hierarchy.to_tsv())
    _save_npy(Path(outputs["distances"]), hierarchy.distance_matrix())
    _save_npy(Path(outputs["levels"]), hierarchy.level_labels())
    write_json(outputs["summary"], summary)
    figures.distance_histogram(
        summary["distance_histogram"],
        f"height {summary['height']}, K={summary['num_classes']}",
        outputs["histogram"],
        outputs["histogram_svg"],
    )
    return summary


def build_frame_stage(
    hierarchy_file: str | Path, distances_file: str | Path, gamma: float, solver: str, outputs: Mapping[str, str | Path]
) -> dict:
    """Solve the HAFrame similarity once (and the ETF), check a seed-0 draw of each, plot both;
    write the ``FRAME_FILES`` to ``outputs`` (by key)."""
    from . import figures  # matplotlib is slow to import and only the stages draw

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
    save_npz(outputs["haframe"], S=solved.S, factor=solved.factor, s=solved.s, exact_s=solved.exact_s, gamma=gamma)
    save_npz(outputs["etf"], S=etf, factor=etf_factor)
    summary = {
        "num_classes": K,
        "gamma": gamma,
        "solver": solver,
        "s": solved.s,
        "exact_s": solved.exact_s,
        "solve_seconds": seconds,
        "max_abs_WWt_minus_S": errors,
    }
    write_json(outputs["summary"], summary)
    figures.cosine_heatmaps(
        [(f"HAFrame (gamma={gamma}, s={solved.s:.4f})", solved.S[np.ix_(order, order)]), ("simplex ETF", etf)],
        "target cosines between class vectors, classes in tree order",
        outputs["heatmap"],
        outputs["heatmap_svg"],
    )
    return summary
