"""haframe.frames: the minimum-similarity solve (exact and the authors' grid), frames and ETFs.

Reference: README, "The method" 2. Distance matrices come from random unbalanced trees.
"""

import numpy as np
import pytest
from conftest import random_tree_paths

from haframe.frames import (
    FrameError,
    check_frame,
    draw_frame,
    etf_similarity,
    exponential_similarity,
    shifted,
    solve_similarity,
)
from haframe.hierarchy import Hierarchy


def tree_distances(seed, min_leaves, max_leaves, max_depth=5):
    return Hierarchy.from_paths(random_tree_paths(seed, min_leaves, max_leaves, max_depth)).distance_matrix()


# (seed, K range, max depth): K from ~10 to ~120
TREES = [
    (0, 10, 20, 4),
    (1, 20, 40, 5),
    (2, 40, 70, 6),
    (3, 90, 120, 5),
]
GAMMAS = [2.0, 3.0, 5.0]

GRID_POINTS = 100
TOL = 1e-6


def min_eig(S):
    return np.linalg.eigvalsh(S)[0]


def brute_force_grid(D, gamma):
    """The authors' search: scan all grid values, keep the most negative PSD one."""
    K = D.shape[0]
    E = np.exp(-gamma * D / D.max())
    best = None
    for s in np.linspace(-1.0 / (K - 1), -1.0, GRID_POINTS):
        S = (1 - s) * E + s
        if np.linalg.eigvalsh(S)[0] > -TOL:
            best = s if best is None else min(best, s)
    return best


@pytest.mark.parametrize("tree", TREES, ids=lambda t: f"tree{t[0]}")
@pytest.mark.parametrize("gamma", GAMMAS)
def test_exact_solve_is_on_the_psd_boundary(tree, gamma):
    D = tree_distances(*tree)
    K = D.shape[0]
    sim = solve_similarity(D, gamma, "exact")
    assert -1.0 < sim.s < 0.0  # an interior (not clamped), negative boundary
    assert sim.s == sim.exact_s
    E = np.exp(-gamma * D / D.max())
    np.testing.assert_allclose(sim.S, (1 - sim.s) * E + sim.s, atol=1e-15)
    np.testing.assert_allclose(np.diag(sim.S), 1.0, atol=1e-15)
    assert abs(min_eig(sim.S)) < 1e-9
    # a little more negative and S is clearly indefinite
    assert min_eig((1 - (sim.s - 1e-4)) * E + (sim.s - 1e-4)) < -1e-6
    # closed form (README, "The method" 2): s* = -1 / (1^T E^-1 1 - 1)
    ones = np.ones(K)
    assert sim.s == pytest.approx(-1.0 / (ones @ np.linalg.solve(E, ones) - 1.0), rel=1e-10)


@pytest.mark.parametrize("tree", TREES, ids=lambda t: f"tree{t[0]}")
@pytest.mark.parametrize("gamma", GAMMAS)
def test_grid_solve_matches_brute_force_grid_search(tree, gamma):
    D = tree_distances(*tree)
    K = D.shape[0]
    sim = solve_similarity(D, gamma, "grid")
    grid = np.linspace(-1.0 / (K - 1), -1.0, GRID_POINTS)
    E = np.exp(-gamma * D / D.max())
    # s is a grid value
    assert np.any(grid == sim.s)
    i = int(np.nonzero(grid == sim.s)[0][0])
    # s is >= s*, or just below it but within the eigenvalue tolerance
    assert sim.s >= sim.exact_s or min_eig((1 - sim.s) * E + sim.s) > -TOL
    # the smallest grid point >= s* is s itself or the grid point right before it
    smallest_above = grid[grid >= sim.exact_s].min()
    assert sim.s <= smallest_above
    # the next, more negative grid point fails the authors' test
    if i + 1 < GRID_POINTS:
        assert min_eig((1 - grid[i + 1]) * E + grid[i + 1]) <= -TOL
    # equals a direct brute-force grid search over all 100 values
    assert sim.s == brute_force_grid(D, gamma)
    np.testing.assert_allclose(sim.S, (1 - sim.s) * E + sim.s, atol=1e-15)
    assert sim.exact_s == solve_similarity(D, gamma, "exact").s


def test_clamped_at_minus_one():
    # a small tree with gamma 1: 1^T E^-1 1 < 2, so s* would be below -1 and is clamped
    D = tree_distances(1, 10, 10, 5)
    sim = solve_similarity(D, 1.0, "exact")
    assert sim.s == -1.0
    assert min_eig(sim.S) > 0


def test_solver_and_gamma_validation():
    D = tree_distances(0, 10, 20, 4)
    with pytest.raises(FrameError, match="solver"):
        solve_similarity(D, 2.0, "nope")
    with pytest.raises(FrameError, match="gamma"):
        solve_similarity(D, 0.0)


def test_exponential_similarity_and_shift():
    D = np.array([[0, 1, 2], [1, 0, 2], [2, 2, 0]])
    E = exponential_similarity(D, 2.0)
    np.testing.assert_allclose(E, np.exp(-2.0 * D / 2.0))
    S = shifted(E, -0.3)
    np.testing.assert_allclose(S, 1.3 * E - 0.3)
    np.testing.assert_allclose(np.diag(S), 1.0)


@pytest.mark.parametrize("tree", TREES[:3], ids=lambda t: f"tree{t[0]}")
def test_draw_frame(tree):
    D = tree_distances(*tree)
    K = D.shape[0]
    sim = solve_similarity(D, 3.0, "grid")
    np.testing.assert_allclose(sim.factor.T @ sim.factor, sim.S, atol=1e-10)
    for d in (K, K + 7):
        W = draw_frame(sim.factor, d, seed=0)
        assert W.shape == (K, d)
        assert np.abs(W @ W.T - sim.S).max() < 1e-8
        assert np.abs(np.linalg.norm(W, axis=1) - 1.0).max() < 1e-8
        assert check_frame(W, sim.S) < 1e-8
        W1 = draw_frame(sim.factor, d, seed=1)
        assert np.abs(W1 - W).max() > 1e-3  # the seed rotates the frame
        assert np.abs(W1 @ W1.T - sim.S).max() < 1e-8  # but keeps its cosines
        np.testing.assert_array_equal(draw_frame(sim.factor, d, seed=0), W)  # deterministic


def test_draw_frame_at_exact_boundary():
    D = tree_distances(2, 40, 70, 6)
    sim = solve_similarity(D, 2.0, "exact")
    W = draw_frame(sim.factor, D.shape[0], seed=3)
    assert np.abs(W @ W.T - sim.S).max() < 1e-8


def test_draw_frame_too_few_dimensions():
    D = tree_distances(0, 10, 20, 4)
    K = D.shape[0]
    sim = solve_similarity(D, 2.0)
    with pytest.raises(FrameError) as err:
        draw_frame(sim.factor, K - 1, seed=0)
    message = str(err.value)
    assert f"d={K - 1}" in message and f"K={K}" in message


@pytest.mark.parametrize("K", [2, 3, 10, 57])
def test_etf_similarity(K):
    S = etf_similarity(K)
    assert S.shape == (K, K)
    np.testing.assert_allclose(np.diag(S), 1.0, atol=1e-14)
    off = S[~np.eye(K, dtype=bool)]
    np.testing.assert_allclose(off, -1.0 / (K - 1), atol=1e-14)
    lam = np.linalg.eigvalsh(S)
    assert lam[0] > -1e-12  # PSD
    assert abs(lam[0]) < 1e-12 and lam[1] > 0.5  # rank K - 1 (rows sum to zero)


def test_check_frame_rejects_perturbed_frame():
    D = tree_distances(1, 20, 40, 5)
    sim = solve_similarity(D, 2.0)
    W = draw_frame(sim.factor, D.shape[0] + 3, seed=0)
    check_frame(W, sim.S)
    bad = W.copy()
    bad[0, 0] += 1e-4
    with pytest.raises(FrameError, match="frame check failed"):
        check_frame(bad, sim.S)
    # a rescaled row keeps the directions but breaks unit norm
    scaled = W.copy()
    scaled[1] *= 1.001
    with pytest.raises(FrameError):
        check_frame(scaled, sim.S)


def exact_boundary(D, gamma):
    E = np.exp(-gamma * D / D.max())
    ones = np.ones(D.shape[0])
    return -1.0 / (ones @ np.linalg.solve(E, ones) - 1.0)


@pytest.mark.parametrize("tree", TREES[1:3], ids=lambda t: f"tree{t[0]}")
def test_grid_keeps_point_just_below_exact_boundary_within_tolerance(tree):
    """README, "Fidelity to the published protocol": the grid treats eigenvalues in (-1e-6, 0) as zero.

    Tune gamma so that s* sits 1e-8 above a grid point: that grid point is (slightly)
    indefinite, but within the tolerance, so the authors' search keeps it.
    """
    from scipy.optimize import brentq

    D = tree_distances(*tree)
    K = D.shape[0]
    grid = np.linspace(-1.0 / (K - 1), -1.0, GRID_POINTS)
    lo, hi = exact_boundary(D, 2.0), exact_boundary(D, 5.0)  # s* grows with gamma
    j = int(np.nonzero((grid > lo) & (grid < hi))[0][0])
    gamma = brentq(lambda g: exact_boundary(D, g) - (grid[j] + 1e-8), 2.0, 5.0, xtol=1e-14, rtol=1e-15)
    sim = solve_similarity(D, gamma, "grid")
    assert sim.exact_s > grid[j]  # the grid point is just outside the PSD cone
    E = np.exp(-gamma * D / D.max())
    assert -TOL < min_eig((1 - grid[j]) * E + grid[j]) < 0
    assert sim.s == grid[j] < sim.exact_s
    assert sim.s == brute_force_grid(D, gamma)
