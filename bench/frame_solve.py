"""Frame solve time at K = 1010 (iNat19, gamma 5): exact boundary, grid value derived from it,
and the authors' procedure (a full eigendecomposition at each of 100 grid values), measured
in the same run. Prints a Markdown table.

    .venv/bin/python bench/frame_solve.py [path/to/inat19/tree.pkl]
"""

import sys
import time
from pathlib import Path

import numpy as np

from haframe import frames
from haframe.parsers import read_hierarchy

DEFAULT_TREE = Path(__file__).resolve().parents[2] / "shared/reference/hierarchies/inat19/tree.pkl"


def authors_grid_search(E: np.ndarray) -> float:
    """Their procedure: scan linspace(-1/(K-1), -1, 100) with eigh; keep the last PSD value."""
    K = E.shape[0]
    best = None
    for s in np.linspace(-1.0 / (K - 1), -1.0, frames.GRID_POINTS):
        lam, _ = np.linalg.eigh(frames.shifted(E, s))
        lam[np.abs(lam) < frames.EIGEN_TOLERANCE] = 0.0
        if (lam >= 0).all():
            best = s
    return float(best)


def timed(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    tree = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_TREE
    D = read_hierarchy(tree, "nltk_tree").distance_matrix()
    E = frames.exponential_similarity(D, 5.0)
    t_exact, exact = timed(lambda: frames.exact_minimum_similarity(E), 5)
    t_grid, grid = timed(lambda: frames.grid_minimum_similarity(E, frames.exact_minimum_similarity(E)), 5)
    t_full, _ = timed(lambda: frames.solve_similarity(D, 5.0, "grid"), 3)
    t_authors, authors = timed(lambda: authors_grid_search(E), 1)
    assert grid == authors, (grid, authors)
    print(f"K = {D.shape[0]} (iNat19, gamma 5); best of repeated runs, 1 run for the authors' search\n")
    print("| procedure | s | seconds | authors' time / this |")
    print("|---|---|---|---|")
    print(f"| exact boundary (one linear solve) | {exact:.6f} | {t_exact:.4f} | {t_authors / t_exact:.0f}x |")
    print(f"| grid value derived from the boundary | {grid:.6f} | {t_grid:.4f} | {t_authors / t_grid:.0f}x |")
    print(f"| full solve_similarity (grid + factor of S) | {grid:.6f} | {t_full:.4f} | {t_authors / t_full:.0f}x |")
    print(f"| authors: 100 eigendecompositions | {authors:.6f} | {t_authors:.2f} | 1x |")


if __name__ == "__main__":
    main()
