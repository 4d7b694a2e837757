"""HiE, Hierarchical Ensembles (Jain et al., NeurIPS 2023; kanji95/Hierarchical-Ensembles): a
post-hoc rule with its own auxiliary model.

A second, coarse model, trained with cross-entropy on the leaves' parents in the unpadded tree
(CIFAR-100 20, FGVC 70, iNat19 72, tieredImageNet-H 201) with the backbone, head and recipe of
the variant it amends, amends the fine prediction at test time:
p(k) = p_fine(k) p_coarse(parent(k)) / sum_j p_fine(j) p_coarse(parent(j)), computed in log
space (the authors' ``post_hoc_adjustment`` + L1 normalisation, evaluate.py). The coarse model
is trained once per (dataset, seed, head) and shared by every variant that asks for it. The
authors evaluated on their validation split (the HAF fork's loaders read it as "test"); here it
is the dataset's test split, as for every method.
"""

from __future__ import annotations

import numpy as np

from .. import lazy
from .base import AuxiliaryModel, Method, MethodClassifier, PostHocRule

torch = lazy.module("torch")
F = lazy.module("torch.nn.functional")
nn = lazy.module("torch.nn")


class ParentClassifier(MethodClassifier):
    """A learnable linear classifier over the leaves' parents, trained with cross-entropy."""

    def __init__(self, dim: int, parent_of_leaf: torch.Tensor):
        super().__init__()
        self.linear = nn.Linear(dim, int(parent_of_leaf.max()) + 1)
        self.register_buffer("parent_of_leaf", parent_of_leaf, persistent=False)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear(features)

    def labels(self, leaf_labels: torch.Tensor) -> torch.Tensor:
        return self.parent_of_leaf[leaf_labels]

    def loss(self, outputs: torch.Tensor, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(outputs, self.labels(targets))

    def linear_weight(self) -> torch.Tensor:
        return self.linear.weight


class CoarseCrossEntropy(Method):
    """HiE's auxiliary model (not a variant of its own: the ``hie`` rule asks for it)."""

    name = "hie_coarse"
    ranked_by = "the softmax of the parent logits"
    auxiliary_only = True

    def classifier(self, dim, assets, run) -> ParentClassifier:
        _, parent_of_leaf = assets.hierarchy.parents()
        return ParentClassifier(dim, torch.from_numpy(parent_of_leaf))

    def class_names(self, assets) -> list[str]:
        return list(assets.hierarchy.parents()[0])


def hie_combine(
    fine_log_probabilities: np.ndarray, coarse_log_probabilities: np.ndarray, parent_of_leaf: np.ndarray
) -> np.ndarray:
    """log p(k) = log p_fine(k) + log p_coarse(parent(k)), renormalised over k (N x K)."""
    joint = fine_log_probabilities + coarse_log_probabilities[:, parent_of_leaf]
    return joint - np.logaddexp.reduce(joint, axis=1, keepdims=True)


class HiE(PostHocRule):
    name = "hie"
    ranked_by = "the fine distribution times the coarse model's parent distribution, renormalised (HiE)"
    auxiliary = AuxiliaryModel(name="hie_coarse", method="hie_coarse")

    def apply(self, probabilities, scores, assets, auxiliary_probabilities):
        _, parent_of_leaf = assets.hierarchy.parents()
        with np.errstate(divide="ignore"):  # a probability that underflowed to 0 stays 0
            log_fine, log_coarse = np.log(probabilities), np.log(auxiliary_probabilities)
        log_combined = hie_combine(log_fine, log_coarse, parent_of_leaf)
        return np.exp(log_combined), log_combined


METHOD = CoarseCrossEntropy()
RULE = HiE()
