"""Conditional risk minimisation (Karthik et al., ICLR 2021), a post-hoc rule: rank the classes
by their expected hierarchical distance under the model's leaf distribution, p @ D (least
first); top-k likewise (README, "The method" 4)."""

from __future__ import annotations

import numpy as np

from .base import PostHocRule


def expected_distance(probabilities: np.ndarray, D: np.ndarray) -> np.ndarray:
    """N x K risk p @ D, in float64."""
    return probabilities.astype(np.float64) @ D.astype(np.float64)


class CRM(PostHocRule):
    name = "crm"
    ranked_by = "least expected hierarchical distance under the leaf distribution (CRM)"

    def apply(self, probabilities, scores, assets, auxiliary_probabilities):
        """The distribution is kept; the scores become the negated risk (higher ranks first)."""
        return probabilities, -expected_distance(probabilities, assets.distances)


RULE = CRM()
