"""Evaluation metrics (README, "The method" 6, the successors' HOPS, per-level and full-path
accuracy by the project's definition and by Hier-COS's, calibration), vectorised: no loop over
samples."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

AHD_KS = (1, 5, 20)
HOPS_KS = (None, 20, 5)  # None: the whole ranking
ECE_BINS = 15
HOPS_CHUNK = 4096  # samples per block of the N x K ranking arithmetic


def rank_by_score(scores: np.ndarray, k: int) -> np.ndarray:
    """Top-k class indices per row, highest score first (ties: lower index first): the first k
    of a stable descending sort, found by partial selection for k < K (O(K) per row, not
    O(K log K)). Rows where the selection could differ from the sort (the k-th score tied with
    one left out, or a NaN) take the sort."""
    K = scores.shape[1]
    if k >= K:
        return np.argsort(-scores, axis=1, kind="stable")
    chosen = np.argpartition(scores, K - k, axis=1)[:, K - k :]
    chosen.sort(axis=1)  # index order: the stable sort below then puts tied scores lower index first
    values = np.take_along_axis(scores, chosen, axis=1)
    ranked = np.take_along_axis(chosen, np.argsort(-values, axis=1, kind="stable"), axis=1)
    ambiguous = np.count_nonzero(scores >= values.min(axis=1, keepdims=True), axis=1) > k
    ambiguous |= np.isnan(values).any(axis=1)
    if ambiguous.any():
        ranked[ambiguous] = np.argsort(-scores[ambiguous], axis=1, kind="stable")[:, :k]
    return ranked


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


def dense_ranks(D: np.ndarray) -> np.ndarray:
    """R[y, j]: the dense rank of d(y, j) within row y (0 for y itself, 1 for the nearest other
    distance present in the row, ...): Hier-COS's rank of class j by similarity to y."""
    D = np.asarray(D)
    present = np.zeros((D.shape[0], int(D.max()) + 1), dtype=np.int64)
    np.put_along_axis(present, D, 1, axis=1)
    return np.take_along_axis(np.cumsum(present, axis=1) - 1, D, axis=1)


def hops_weights(expected: np.ndarray) -> np.ndarray:
    """Hier-COS's position weights for ideal rank sequences (rows sorted ascending): the block
    of positions with rank r decays linearly from 2^-r towards 2^-(r+1), the endpoint left
    out; the true class (rank 0) weighs 1 and the farthest block decays towards 0 (the
    authors' ``generate_weights`` on 1 / 2^expected, "Code for Analysis" notebook)."""
    rows, K = expected.shape
    # blocks are contiguous in a sorted row: find each position's block by searching the rows
    # laid end to end, every row shifted past the previous one
    flat = (expected + np.arange(rows)[:, None] * (int(expected.max()) + 1)).ravel()
    first = np.searchsorted(flat, flat, side="left").reshape(rows, K) - np.arange(rows)[:, None] * K
    size = np.searchsorted(flat, flat, side="right").reshape(rows, K) - np.arange(rows)[:, None] * K - first
    start = 2.0 ** -expected.astype(np.float64)
    end = np.where(expected == expected[:, -1:], 0.0, start / 2)  # the farthest block decays to 0
    end = np.where(expected == 0, 1.0, end)  # the true class's block is itself
    return start + (end - start) * (np.arange(K)[None, :] - first) / size


def hops(
    ranking: np.ndarray, targets: np.ndarray, D: np.ndarray, ks: Sequence[int | None] = HOPS_KS
) -> dict[str, float]:
    """HOPS@k for each k of ``ks`` (None: the whole ranking; Sani & Anand, CVPR 2026) from
    full rankings (N x K, best first); cutoffs above K are left out.

    For a sample of class y, e = the sorted dense ranks of row y (the ideal order), o = the
    dense ranks of the classes in predicted order, w = ``hops_weights(e)``:
    HOPS@k = clip(1 - sum_{i<k} w_i |e_i - o_i| / sum_{i<k} w_i |e_i - e_{k-1-i}|, 0, 1), the
    denominator being the ideal order reversed within the top k. A top k whose reversal changes
    nothing (k = 1) scores 1 when the ranking is ideal there and 0 otherwise, so HOPS@1 is top-1
    accuracy, as the authors' notebook computes it in its own top-1 branch. Means over samples.
    """
    R = dense_ranks(D)
    expected = np.sort(R, axis=1)
    weights = hops_weights(expected)
    K = D.shape[0]
    sums = {k: 0.0 for k in ks if k is None or k <= K}
    for start in range(0, len(targets), HOPS_CHUNK):
        y = np.asarray(targets[start : start + HOPS_CHUNK])
        obtained = np.take_along_axis(R[y], ranking[start : start + HOPS_CHUNK], axis=1)
        e, w = expected[y], weights[y]
        for k in sums:
            width = K if k is None else k
            reversed_e = e[:, :width][:, ::-1]
            worst = (w[:, :width] * np.abs(e[:, :width] - reversed_e)).sum(axis=1)
            loss = (w[:, :width] * np.abs(e[:, :width] - obtained[:, :width])).sum(axis=1)
            score = np.where(worst > 0, 1.0 - loss / np.where(worst > 0, worst, 1.0), np.where(loss > 0, 0.0, 1.0))
            sums[k] += float(np.clip(score, 0.0, 1.0).sum())
    return {("hops" if k is None else f"hops@{k}"): total / len(targets) for k, total in sums.items()}


def node_indicator(levels: np.ndarray, level: int) -> np.ndarray:
    """K x n_l float64 0/1 matrix: 1 where a class lies below the node of ``level`` (labels of
    ``levels``, the hierarchy stage's per-level labels)."""
    column = levels[:, level]
    return np.eye(int(column.max()) + 1)[column]


def level_accuracies(
    probabilities: np.ndarray, top1: np.ndarray, targets: np.ndarray, levels: np.ndarray
) -> dict[str, float]:
    """Top-1 accuracy (%) at every level of the padded tree below the root, the leaf level from
    ``top1``, each coarser level by the leaf probabilities summed into its nodes; and the
    full-path accuracy: the share of samples right at every level."""
    right = [top1 == targets]
    for level in range(1, levels.shape[1] - 1):
        column = levels[:, level]
        node_probabilities = probabilities @ node_indicator(levels, level)  # N x nodes: one thin product
        right.append(node_probabilities.argmax(axis=1) == column[targets])  # ties: the lower node label
    result = {f"level{level}_accuracy": float(100.0 * r.mean()) for level, r in enumerate(right)}
    result["full_path_accuracy"] = float(100.0 * np.logical_and.reduce(right).mean())
    return result


def hiercos_level_accuracies(level_hits: np.ndarray) -> dict[str, float]:
    """Hier-COS's own accuracy (%) at every depth, over the samples whose leaf reaches it, and its
    full-path accuracy, from ``level_hits`` (N x depth: 1 right, 0 wrong, -1 below a shallow leaf;
    ``MethodClassifier.level_hits``). Over all samples at once: the authors' code averages per-batch
    fractions, which differs only through a smaller last batch (and counts a batch with no
    sample at a depth as 100 %)."""
    reached = level_hits >= 0
    result = {
        f"hiercos_depth{depth}_accuracy": float(100.0 * level_hits[reached[:, depth - 1], depth - 1].mean())
        for depth in range(1, level_hits.shape[1] + 1)
        if reached[:, depth - 1].any()
    }
    result["hiercos_full_path_accuracy"] = float(100.0 * (level_hits != 0).all(axis=1).mean())
    return result


def expected_calibration_error(
    probabilities: np.ndarray, top1: np.ndarray, targets: np.ndarray, bins: int = ECE_BINS
) -> float:
    """ECE (%) over ``bins`` equal-width confidence bins (lower, upper], the first closed at 0:
    confidence = the probability of the predicted class (HiE's ``guo_ECE``)."""
    confidence = np.take_along_axis(probabilities, top1[:, None], axis=1)[:, 0]
    correct = (top1 == targets).astype(np.float64)
    index = np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)
    gap = np.abs(
        np.bincount(index, weights=correct, minlength=bins) - np.bincount(index, weights=confidence, minlength=bins)
    )
    return float(100.0 * gap.sum() / len(targets))


MIN_N = 3  # the project's small-sample rule: below it, no CI and no test (tables show "n = 2")


def too_few(n: int) -> bool:
    """Too few seeds (or repetitions) for a CI or a test: ``n < MIN_N``."""
    return n < MIN_N


def mean_ci(values: Sequence[float | None], confidence: float = 0.95) -> dict:
    """Mean and t-based confidence half-width (std with ddof=1) over seeds.

    Missing values (None) are dropped; half-width is None for fewer than ``MIN_N`` (3) values
    (the small-sample rule: the tables show the mean with "n = 2" instead).
    """
    from scipy import stats

    kept = np.array([v for v in values if v is not None], dtype=np.float64)
    n = int(kept.size)
    if n == 0:
        return {"mean": None, "ci": None, "n": 0}
    if too_few(n):
        return {"mean": float(kept.mean()), "ci": None, "n": n}
    t = stats.t.ppf(0.5 + confidence / 2.0, df=n - 1)
    half = float(t * kept.std(ddof=1) / math.sqrt(n))
    return {"mean": float(kept.mean()), "ci": half, "n": n}
