"""Every post-hoc rule (``haframe.methods.POSTHOC_RULES``, read when pytest collects: a new
rule module is covered with no edit here) maps leaf distributions to leaf distributions: on
random ones, one-hot ones among them, its probabilities are finite, non-negative and sum to 1,
its scores N x K. A rule's auxiliary model gets consistent random probabilities: a random
(positive) leaf distribution summed into the classes that model's classifier predicts."""

import numpy as np
import pytest
import torch

from haframe.assets import RunAssets
from haframe.methods import METHODS, POSTHOC_RULES

from .tiny import TREE, run_spec

N = 32


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def leaf_distributions(rng: np.random.Generator, K: int) -> np.ndarray:
    """Random rows at several temperatures."""
    return softmax(rng.normal(size=(N, K)) * rng.uniform(0.1, 10.0, size=(N, 1)))


@pytest.mark.parametrize("name", sorted(POSTHOC_RULES))
def test_rule_gives_distributions(name):
    rule = POSTHOC_RULES[name]
    assets = RunAssets(hierarchy=TREE, distances=TREE.distance_matrix(), levels=TREE.level_labels(), frames={})
    K = assets.num_classes
    rng = np.random.default_rng(0)
    probabilities = leaf_distributions(rng, K)
    probabilities[-2:] = np.eye(K)[rng.integers(0, K, 2)]  # exact zeros elsewhere
    scores = np.log(np.clip(probabilities, 1e-30, None))
    auxiliary = None
    if rule.auxiliary is not None:
        method = METHODS[rule.auxiliary.method]
        run = run_spec(rule.auxiliary.method, method.heads[0])
        classes = method.classifier(4, assets, run).labels(torch.arange(K)).numpy()
        auxiliary = np.zeros((N, classes.max() + 1))
        np.add.at(auxiliary.T, classes, leaf_distributions(rng, K).T)
    amended, amended_scores = rule.apply(probabilities, scores, assets, auxiliary)
    assert amended.shape == (N, K) and amended_scores.shape == (N, K)
    assert np.isfinite(amended).all() and (amended >= 0).all()
    np.testing.assert_allclose(amended.sum(axis=1), 1.0, atol=1e-6)
    assert not np.isnan(amended_scores).any()
