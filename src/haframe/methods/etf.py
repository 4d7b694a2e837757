"""A fixed simplex ETF as the classifier, trained with plain cross-entropy (extra baseline).

The ETF (all off-diagonal cosines -1/(K-1)) is the geometry neural collapse converges to
without a hierarchy (README, "The method" 2, step 5); HAFrame replaces it with the hierarchy-aware
frame. Same frozen layer as HAFrame, without the cosine loss.
"""

from __future__ import annotations

from .. import lazy
from .base import Method
from .haframe import FrozenFrame, frame_width_problems

torch = lazy.module("torch")
F = lazy.module("torch.nn.functional")


class ETFClassifier(FrozenFrame):
    def loss(self, outputs: torch.Tensor, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(outputs, targets)


class FixedETF(Method):
    name = "etf"
    heads = ("II",)

    def tree_problems(self, run, tree) -> dict[str, str]:
        return frame_width_problems(self.name, run, tree)

    def classifier(self, dim, assets, run) -> ETFClassifier:
        W, S = assets.draw_frame("etf", dim, run.seed)
        return ETFClassifier(torch.from_numpy(W).float(), torch.from_numpy(S).float(), alpha=0.0)


METHOD = FixedETF()
