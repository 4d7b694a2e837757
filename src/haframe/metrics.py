"""Evaluation metrics over ranked predictions (method.md section 6), vectorised."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

AHD_KS = (1, 5, 20)


def rank_by_score(scores: np.ndarray, k: int) -> np.ndarray:
    """Top-k class indices per row, highest score first (ties: lower index first)."""
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def metrics(ranked: np.ndarray, targets: np.ndarray, D: np.ndarray) -> dict:
    """Top-1 error (%), mistake severity and AHD@k from ranked predictions (N x >=k)."""
    ranked = np.asarray(ranked)
    targets = np.asarray(targets)
    n, width = ranked.shape
    K = D.shape[0]
    dist = D[ranked, targets[:, None]]  # N x width distances of each ranked prediction
    wrong = ranked[:, 0] != targets
    result = {
        "n": int(n),
        "top1_error": float(100.0 * wrong.mean()),
        "mistake_severity": float(dist[wrong, 0].mean()) if wrong.any() else None,
    }
    for k in AHD_KS:
        if k <= K and k <= width:
            result[f"ahd@{k}"] = float(dist[:, :k].mean())
    return result


def ahd_curve(ranked: np.ndarray, targets: np.ndarray, D: np.ndarray) -> np.ndarray:
    """AHD@k for k = 1 .. width: mean over samples of the mean distance of the top-k."""
    dist = D[ranked, np.asarray(targets)[:, None]].astype(np.float64)
    return (np.cumsum(dist, axis=1) / np.arange(1, ranked.shape[1] + 1)).mean(axis=0)


def mistake_distance_shares(top1: np.ndarray, targets: np.ndarray, D: np.ndarray) -> np.ndarray:
    """Share of the mistakes at each distance 1..max(D) (zeros when there is no mistake)."""
    distances = D[top1, targets]
    counts = np.bincount(distances[distances > 0], minlength=int(D.max()) + 1)[1:]
    return counts / max(1, counts.sum())


def mean_ci(values: Sequence[float | None], confidence: float = 0.95) -> dict:
    """Mean and t-based confidence half-width (std with ddof=1) over seeds.

    Missing values (None) are dropped; half-width is None for fewer than two values.
    """
    from scipy import stats

    kept = np.array([v for v in values if v is not None], dtype=np.float64)
    n = int(kept.size)
    if n == 0:
        return {"mean": None, "ci": None, "n": 0}
    if n == 1:
        return {"mean": float(kept[0]), "ci": None, "n": 1}
    t = stats.t.ppf(0.5 + confidence / 2.0, df=n - 1)
    half = float(t * kept.std(ddof=1) / math.sqrt(n))
    return {"mean": float(kept.mean()), "ci": half, "n": n}
