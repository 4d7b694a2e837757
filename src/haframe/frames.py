"""Hierarchy-aware frames (HAFrame) and simplex ETFs (README, "The method" 2).

The similarity matrix S is solved once per (dataset, gamma) in float64; the frame W with
W W^T = S is drawn per seed by rotating a fixed factor of S into R^d.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GRID_POINTS = 100
EIGEN_TOLERANCE = 1e-6  # the authors' grid search treats |lambda| < 1e-6 as 0


class FrameError(ValueError):
    pass


@dataclass(frozen=True)
class Similarity:
    """Target cosines S (K x K), the minimum similarity s that produced it and a factor of S."""

    S: np.ndarray
    s: float
    exact_s: float
    factor: np.ndarray  # K x K, factor.T @ factor == S


def exponential_similarity(D: np.ndarray, gamma: float) -> np.ndarray:
    D = np.asarray(D, dtype=np.float64)
    return np.exp(-gamma * D / D.max())


def shifted(E: np.ndarray, s: float) -> np.ndarray:
    """S(s) = (1 - s) E + s: diagonal stays 1, every cosine moves towards s."""
    return (1.0 - s) * E + s


def exact_minimum_similarity(E: np.ndarray) -> float:
    """Most negative s keeping S(s) PSD: s* = -1 / (1^T E^-1 1 - 1), clamped to >= -1."""
    K = E.shape[0]
    try:
        x = np.linalg.solve(E, np.ones(K))
    except np.linalg.LinAlgError as err:
        raise FrameError("E = exp(-gamma D / max D) is singular; cannot solve the frame") from err
    total = x.sum()
    if total <= 1.0:  # only a non-positive-definite E gets here
        return -1.0
    return float(max(-1.0 / (total - 1.0), -1.0))


def grid_minimum_similarity(E: np.ndarray, exact_s: float) -> float:
    """The authors' grid answer, derived from the exact boundary.

    Grid: linspace(-1/(K-1), -1, 100); they keep the most negative grid value whose S has no
    eigenvalue below -1e-6. That is the smallest grid point >= s*, or a point just below s*
    whose most negative eigenvalue is within the tolerance: check those few points only.
    """
    K = E.shape[0]
    grid = np.linspace(-1.0 / (K - 1), -1.0, GRID_POINTS)
    admissible = np.nonzero(grid >= exact_s)[0]
    if admissible.size == 0:
        raise FrameError(f"no grid value is >= the exact boundary {exact_s}")
    best = int(admissible.max())
    while best + 1 < GRID_POINTS and np.linalg.eigvalsh(shifted(E, grid[best + 1]))[0] > -EIGEN_TOLERANCE:
        best += 1
    return float(grid[best])


def solve_similarity(D: np.ndarray, gamma: float, solver: str = "grid") -> Similarity:
    """Solve the target cosine matrix S once for a distance matrix and gamma."""
    if gamma <= 0:
        raise FrameError(f"gamma must be > 0, got {gamma}")
    E = exponential_similarity(D, gamma)
    exact_s = exact_minimum_similarity(E)
    if solver == "exact":
        s = exact_s
    elif solver == "grid":
        s = grid_minimum_similarity(E, exact_s)
    else:
        raise FrameError(f"frame solver must be 'grid' or 'exact', got {solver!r}")
    S = shifted(E, s)
    return Similarity(S=S, s=s, exact_s=exact_s, factor=psd_factor(S))


def etf_similarity(K: int) -> np.ndarray:
    """Simplex ETF target cosines: 1 on the diagonal, -1/(K-1) elsewhere."""
    return K / (K - 1) * (np.eye(K) - np.full((K, K), 1.0 / K))


def psd_factor(S: np.ndarray) -> np.ndarray:
    """F with F^T F = S, via the eigendecomposition (tiny negative eigenvalues clipped)."""
    lam, V = np.linalg.eigh(S)
    return np.sqrt(np.clip(lam, 0.0, None))[:, None] * V.T


def draw_frame(factor: np.ndarray, dim: int, seed: int) -> np.ndarray:
    """K x dim frame W = (Q F)^T with a seeded random orthonormal Q (dim x K)."""
    K = factor.shape[0]
    if dim < K:
        raise FrameError(
            f"feature dimension d={dim} is smaller than the number of classes K={K}; "
            "a frame with K prescribed cosines needs d >= K"
        )
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((dim, K)))
    return (Q @ factor).T


def check_frame(W: np.ndarray, S: np.ndarray, tol: float = 1e-8) -> float:
    """Fail unless W W^T = S and rows have unit norm; return max |W W^T - S|."""
    error = float(np.abs(W @ W.T - S).max())
    norm_error = float(np.abs(np.linalg.norm(W, axis=1) - 1.0).max())
    if error >= tol or norm_error >= tol:
        raise FrameError(f"frame check failed: max|WW^T - S| = {error:.3g}, max|1 - |w_i|| = {norm_error:.3g}")
    return error
