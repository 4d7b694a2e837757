"""haframe.metrics (and evaluate.scored_predictions): README, "The method" 6, and the CRM rule
(haframe.methods.crm, section 4)."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from scipy import stats

from haframe.assets import RunAssets
from haframe.evaluate import chain_prediction
from haframe.hierarchy import Hierarchy
from haframe.methods.crm import RULE as CRM
from haframe.methods.crm import expected_distance
from haframe.metrics import mean_ci, metrics, rank_by_score
from haframe.score import score

# K = 4: root -> A -> {0, 1}, root -> B -> {2, 3}; H = 2
D4 = np.array(
    [
        [0, 1, 2, 2],
        [1, 0, 2, 2],
        [2, 2, 0, 1],
        [2, 2, 1, 0],
    ]
)

# K = 6: root -> G0 -> {0, 1, 2}, root -> G1 -> {3, 4, 5}; H = 2
D6 = np.array([[0 if a == b else (1 if a // 3 == b // 3 else 2) for b in range(6)] for a in range(6)])


def test_metrics_hand_case_k4():
    ranked = np.array(
        [
            [0, 1, 2, 3],  # target 0: correct.   distances 0 1 2 2
            [0, 1, 3, 2],  # target 1: wrong (0). distances 1 0 2 2
            [1, 0, 2, 3],  # target 2: wrong (1). distances 2 2 0 1
            [3, 2, 1, 0],  # target 3: correct.   distances 0 1 2 2
        ]
    )
    targets = np.array([0, 1, 2, 3])
    m = metrics(ranked, targets, D4)
    assert m["n"] == 4
    assert m["top1_error"] == pytest.approx(50.0)  # 2 of 4 wrong
    assert m["mistake_severity"] == pytest.approx(1.5)  # (D[0,1] + D[1,2]) / 2 = (1 + 2) / 2
    assert m["ahd@1"] == pytest.approx(0.75)  # (0 + 1 + 2 + 0) / 4
    assert "ahd@5" not in m  # K = 4 < 5
    assert "ahd@20" not in m


def test_metrics_hand_case_k6():
    ranked = np.array(
        [
            [0, 1, 2, 3, 4],  # target 0: correct. distances 0 1 1 2 2 (sum 6)
            [1, 4, 3, 5, 0],  # target 4: wrong (1). distances 2 0 1 1 2 (sum 6)
        ]
    )
    targets = np.array([0, 4])
    m = metrics(ranked, targets, D6)
    assert m["n"] == 2
    assert m["top1_error"] == pytest.approx(50.0)
    assert m["mistake_severity"] == pytest.approx(2.0)  # D[1, 4] = 2
    assert m["ahd@1"] == pytest.approx(1.0)  # (0 + 2) / 2
    assert m["ahd@5"] == pytest.approx(1.2)  # (6 + 6) / 10
    assert "ahd@20" not in m  # K = 6 < 20


def test_metrics_no_mistakes():
    ranked = np.array([[0, 1, 2, 3], [1, 0, 3, 2], [2, 3, 0, 1]])
    targets = np.array([0, 1, 2])
    m = metrics(ranked, targets, D4)
    assert m["top1_error"] == 0.0
    assert m["mistake_severity"] is None  # not NaN
    assert m["ahd@1"] == 0.0


def test_metrics_all_wrong():
    ranked = np.array([[2], [3], [1]])
    targets = np.array([0, 1, 0])
    m = metrics(ranked, targets, D4)
    assert m["top1_error"] == pytest.approx(100.0)
    assert m["mistake_severity"] == pytest.approx((2 + 2 + 1) / 3)
    assert m["ahd@1"] == pytest.approx((2 + 2 + 1) / 3)


def brute_force_metrics(ranked, targets, D):
    n, width = ranked.shape
    K = D.shape[0]
    wrong = 0
    severities = []
    ahd = {}
    for i in range(n):
        if ranked[i, 0] != targets[i]:
            wrong += 1
            severities.append(D[ranked[i, 0], targets[i]])
    for k in (1, 5, 20):
        if k > K or k > width:
            continue
        total = 0.0
        for i in range(n):
            total += sum(D[ranked[i, j], targets[i]] for j in range(k)) / k
        ahd[f"ahd@{k}"] = total / n
    return {
        "n": n,
        "top1_error": 100.0 * wrong / n,
        "mistake_severity": sum(severities) / len(severities) if severities else None,
        **ahd,
    }


def crm_rank(probabilities, hierarchy, k):
    """The CRM rule's top-k (it reads only the per-level labels of the run's assets)."""
    _, scores = CRM.apply(probabilities, None, SimpleNamespace(levels=hierarchy.level_labels()), None)
    return rank_by_score(scores, k)


def random_tree_distances(K, seed):
    return random_tree(K, seed).distance_matrix()


def random_tree(K, seed):
    rng = np.random.default_rng(seed)
    paths = []
    for k in range(K):
        depth = int(rng.integers(2, 5))  # leaves at depths 2..4: unbalanced
        inner = [f"n{lvl}_{int(rng.integers(0, 3))}" for lvl in range(1, depth)]
        # make inner names globally consistent: prefix with the parent path
        named = [f"{'_'.join(inner[: i + 1])}" for i in range(len(inner))]
        paths.append(["root", *named, f"c{k}"])
    return Hierarchy.from_paths(paths)


def assets_of(hierarchy):
    """What evaluation reads of a hierarchy (no frames: the post-hoc rules need none)."""
    return RunAssets(
        hierarchy=hierarchy, distances=hierarchy.distance_matrix(), levels=hierarchy.level_labels(), frames={}
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_against_brute_force(seed):
    N, K = 200, 30
    D = random_tree_distances(K, seed)
    rng = np.random.default_rng(seed + 100)
    targets = rng.integers(0, K, N)
    scores = rng.normal(size=(N, K))
    scores[np.arange(N), targets] += 1.5  # some right, some wrong
    ranked = rank_by_score(scores, 20)
    got = metrics(ranked, targets, D)
    expected = brute_force_metrics(ranked, targets, D)
    assert set(got) == set(expected) == {"n", "top1_error", "mistake_severity", "ahd@1", "ahd@5", "ahd@20"}
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-12), key
    assert 0 < got["top1_error"] < 100


def test_crm_rank_differs_from_argmax():
    # K = 3: root -> A -> {0, 1}, root -> 2 (padded), H = 2
    tree = Hierarchy.from_paths([["root", "A", "0"], ["root", "A", "1"], ["root", "2"]])
    D = tree.distance_matrix()
    np.testing.assert_array_equal(D, [[0, 1, 2], [1, 0, 2], [2, 2, 0]])
    probs = np.array([[0.32, 0.28, 0.40]])
    # expected distances p @ D:
    #   class 0: 0.28 * 1 + 0.40 * 2 = 1.08
    #   class 1: 0.32 * 1 + 0.40 * 2 = 1.12
    #   class 2: 0.32 * 2 + 0.28 * 2 = 1.20
    np.testing.assert_array_equal(crm_rank(probs, tree, 3), [[0, 1, 2]])
    np.testing.assert_array_equal(crm_rank(probs, tree, 1), [[0]])
    np.testing.assert_allclose(expected_distance(probs, tree.level_labels()), [[1.08, 1.12, 1.20]], atol=1e-15)
    np.testing.assert_array_equal(rank_by_score(probs, 3), [[2, 0, 1]])  # argmax ranks 2 first


def test_crm_rank_matches_expected_distance_brute_force():
    K = 12
    tree = random_tree(K, 5)
    D = tree.distance_matrix()
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(K), size=20)
    ranked = crm_rank(probs, tree, 5)
    for i in range(20):
        risk = [sum(probs[i, j] * D[j, c] for j in range(K)) for c in range(K)]
        order = sorted(range(K), key=lambda c: (risk[c], c))
        assert list(ranked[i]) == order[:5]


@pytest.mark.parametrize("seed", range(4))
def test_the_tree_factorised_risk_is_p_at_d(seed):
    tree = random_tree(30, seed)  # unbalanced: shallow leaves padded
    probabilities = np.random.default_rng(seed).dirichlet(np.full(30, 0.3), size=50)
    np.testing.assert_allclose(
        expected_distance(probabilities, tree.level_labels()),
        probabilities @ tree.distance_matrix(),
        rtol=0,
        atol=1e-13,
    )


@pytest.mark.parametrize(("branching", "thin"), [((8, 8), True), ((2, 2, 2, 2, 2), False)])
def test_crm_takes_the_cheaper_product_for_the_trees_shape_and_both_are_p_at_d(branching, thin):
    from haframe.data.kinds.synthetic import planted_hierarchy
    from haframe.methods.crm import internal_nodes

    tree = planted_hierarchy(branching)  # 64 leaves over 8 internal nodes; 32 leaves over 30
    K, n = internal_nodes(tree.level_labels()).shape
    assert (2 * n < K) == thin
    probabilities = np.random.default_rng(0).dirichlet(np.full(K, 0.3), size=40)
    np.testing.assert_allclose(
        expected_distance(probabilities, tree.level_labels()),
        probabilities @ tree.distance_matrix(),
        rtol=0,
        atol=1e-13,
    )


@pytest.mark.parametrize("k", [1, 3, 7, 20])
def test_partial_selection_is_the_stable_sort_with_ties_and_nans(k):
    rng = np.random.default_rng(k)
    scores = rng.normal(size=(300, 20))
    scores[::3] = rng.integers(0, 3, size=scores[::3].shape)  # many ties, at the k-th place too
    scores[5, 4] = scores[7, 0] = np.nan
    scores[8] = -np.inf
    np.testing.assert_array_equal(rank_by_score(scores, k), np.argsort(-scores, axis=1, kind="stable")[:, :k])


def test_rank_by_score_ties_lower_index_first():
    scores = np.array([[1.0, 3.0, 3.0, 0.0, 3.0], [2.0, 2.0, 2.0, 2.0, 2.0]])
    np.testing.assert_array_equal(rank_by_score(scores, 3), [[1, 2, 4], [0, 1, 2]])
    np.testing.assert_array_equal(rank_by_score(scores, 5), [[1, 2, 4, 0, 3], [0, 1, 2, 3, 4]])


def test_mean_ci_known_values():
    r = mean_ci([1, 2, 3, 4, 5])
    assert r["n"] == 5
    assert r["mean"] == pytest.approx(3.0)
    expected = stats.t.ppf(0.975, 4) * np.std([1, 2, 3, 4, 5], ddof=1) / math.sqrt(5)
    assert r["ci"] == pytest.approx(expected, rel=1e-12)
    assert r["ci"] == pytest.approx(1.963243, abs=1e-6)  # 2.776445 * sqrt(2.5) / sqrt(5)


def test_mean_ci_single_and_missing():
    r = mean_ci([2.5])
    assert r == {"mean": 2.5, "ci": None, "n": 1}
    r = mean_ci([None, 1, 2, None, 3, 4, 5])
    assert r["n"] == 5 and r["mean"] == pytest.approx(3.0)
    assert r["ci"] == pytest.approx(1.963243, abs=1e-6)
    r = mean_ci([None, 7.0])
    assert r["mean"] == 7.0 and r["ci"] is None and r["n"] == 1
    r = mean_ci([None, None])
    assert r["mean"] is None and r["ci"] is None and r["n"] == 0


def test_mean_ci_small_sample_rule_no_ci_below_three():
    r = mean_ci([10.0, 12.0, None])  # n = 2: the mean, no CI (the t(0.975, 1) half-width would be 12.71)
    assert r == {"mean": 11.0, "ci": None, "n": 2}
    assert mean_ci([10.0, 12.0, 14.0])["ci"] is not None


def test_a_crm_chain_ranks_by_the_expected_distance_and_scores_its_ranking():
    N, K = 50, 8
    tree = random_tree(K, 3)
    D = tree.distance_matrix()
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(N, K))
    targets = rng.integers(0, K, N)
    probs = torch.softmax(torch.from_numpy(logits), dim=1).numpy()
    m, crm_scores = chain_prediction("crm", logits, probs, targets, assets_of(tree))
    ranked = rank_by_score(crm_scores, K)
    np.testing.assert_array_equal(ranked, crm_rank(probs, tree, K))
    assert m["n_test"] == N and "n" not in m and m["ranked_by"] == CRM.ranked_by
    expected = metrics(ranked, targets, D)
    for key in ("top1_error", "mistake_severity", "ahd@1", "ahd@5"):
        assert m[key] == pytest.approx(expected[key])
    assert "ahd@20" not in m  # K = 8 < 20


def test_score_gives_the_metrics_of_the_ranking_and_each_chain():
    N, K = 40, 30
    tree = random_tree(K, 4)
    D = tree.distance_matrix()
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(N, K))
    targets = rng.integers(0, K, N)
    result = score(logits, targets, tree, posthoc=["crm"])
    ranked = rank_by_score(logits, 20)
    assert result["n_test"] == N
    assert result["ahd@20"] == pytest.approx(brute_force_metrics(ranked, targets, D)["ahd@20"])
    assert result["top1_error"] == pytest.approx(metrics(ranked, targets, D)["top1_error"])
    probs = torch.softmax(torch.from_numpy(logits), dim=1).numpy()
    assert result["crm"]["top1_error"] == pytest.approx(metrics(crm_rank(probs, tree, 20), targets, D)["top1_error"])
