"""haframe.collapse: neural-collapse statistics on constructed features, against direct formulas."""

import numpy as np
import pytest
import torch

from haframe.collapse import COLUMNS, FeatureMoments, statistics
from haframe.frames import draw_frame, etf_similarity, psd_factor, solve_similarity
from haframe.hierarchy import Hierarchy

PATHS = [["r", "A", "a0"], ["r", "A", "a1"], ["r", "A", "a2"], ["r", "B", "b0"], ["r", "B", "b1"], ["r", "c"]]
TREE = Hierarchy.from_paths(PATHS)
K, D_FEAT = TREE.num_classes, 9
SOLVED = solve_similarity(TREE.distance_matrix(), 2.0, "exact")
TARGETS = {"haframe": torch.from_numpy(SOLVED.S), "etf": torch.from_numpy(etf_similarity(K))}


def accumulate(features: np.ndarray, labels: np.ndarray, batch: int = 7) -> FeatureMoments:
    moments = FeatureMoments.zeros(K, features.shape[1], torch.device("cpu"))
    for start in range(0, len(labels), batch):  # batch by batch, as the training loop does
        moments.add(torch.from_numpy(features[start : start + batch]), torch.from_numpy(labels[start : start + batch]))
    return moments


def labels_of(per_class: int) -> np.ndarray:
    return np.random.default_rng(0).permutation(np.repeat(np.arange(K), per_class))


def test_features_at_the_frame_vectors_are_collapsed_onto_it():
    W = draw_frame(SOLVED.factor, D_FEAT, seed=3)  # K x d, cos(w_i, w_j) = S_ij
    labels = labels_of(5)
    stats = statistics(accumulate(W[labels], labels), TARGETS, torch.from_numpy(W))
    assert set(stats) == set(COLUMNS)
    assert stats["nc1"] == pytest.approx(0.0, abs=1e-12)
    assert stats["raw_haframe_dev_mean"] == pytest.approx(0.0, abs=1e-12)
    assert stats["raw_haframe_dev_std"] == pytest.approx(0.0, abs=1e-12)
    assert stats["self_duality_raw"] == pytest.approx(0.0, abs=1e-12)
    assert stats["raw_etf_dev_mean"] > 0.1  # a HAFrame is not an ETF


def test_features_at_an_etf_are_collapsed_onto_the_etf_once_centred():
    W = draw_frame(psd_factor(etf_similarity(K)), D_FEAT, seed=1) + 2.0  # an ETF shifted off the origin
    labels = labels_of(4)
    stats = statistics(accumulate(W[labels], labels), TARGETS, None)
    assert stats["nc1"] == pytest.approx(0.0, abs=1e-10)
    assert stats["centred_etf_dev_mean"] == pytest.approx(0.0, abs=1e-10)
    assert stats["raw_etf_dev_mean"] > 0.5  # the shift shows on the raw means
    assert stats["self_duality_raw"] is None and stats["self_duality_centred"] is None  # no linear classifier


def test_noise_gives_large_values_and_nc1_matches_its_formula():
    rng = np.random.default_rng(5)
    labels = labels_of(40)
    means = rng.standard_normal((K, D_FEAT))
    features = means[labels] + 3.0 * rng.standard_normal((len(labels), D_FEAT))
    weight = rng.standard_normal((K, D_FEAT))
    stats = statistics(accumulate(features, labels), TARGETS, torch.from_numpy(weight))
    # the definitions, written directly
    mu = np.stack([features[labels == k].mean(axis=0) for k in range(K)])
    centred = mu - features.mean(axis=0)
    within = sum(np.outer(f - mu[y], f - mu[y]) for f, y in zip(features, labels)) / len(labels)
    between = centred.T @ centred / K
    assert stats["nc1"] == pytest.approx(np.trace(within @ np.linalg.pinv(between)) / K, rel=1e-8)
    assert stats["nc1"] > 1.0
    unit = mu / np.linalg.norm(mu, axis=1, keepdims=True)
    pairs = np.triu_indices(K, 1)
    difference = (unit @ unit.T - SOLVED.S)[pairs]
    assert stats["raw_haframe_dev_mean"] == pytest.approx(np.abs(difference).mean(), rel=1e-10)
    assert stats["raw_haframe_dev_std"] == pytest.approx(difference.std(), rel=1e-10)
    duality = np.sum((weight / np.linalg.norm(weight) - mu / np.linalg.norm(mu)) ** 2)
    assert stats["self_duality_raw"] == pytest.approx(duality, rel=1e-10)
    assert stats["self_duality_raw"] > 0.5


def test_statistics_are_invariant_to_a_global_rotation():
    rng = np.random.default_rng(8)
    labels = labels_of(10)
    features = rng.standard_normal((K, D_FEAT))[labels] + 0.3 * rng.standard_normal((len(labels), D_FEAT))
    weight = rng.standard_normal((K, D_FEAT))
    Q, _ = np.linalg.qr(rng.standard_normal((D_FEAT, D_FEAT)))
    before = statistics(accumulate(features, labels), TARGETS, torch.from_numpy(weight))
    after = statistics(accumulate(features @ Q, labels), TARGETS, torch.from_numpy(weight @ Q))
    for column in COLUMNS:
        assert after[column] == pytest.approx(before[column], rel=1e-8, abs=1e-12), column


def test_a_class_without_samples_is_refused():
    labels = np.repeat(np.arange(K - 1), 3)
    with pytest.raises(ValueError, match="1 have no sample"):
        statistics(accumulate(np.ones((len(labels), D_FEAT)), labels), TARGETS, None)
