"""Cross-entropy with a learnable linear classifier (type I or II head): the baseline."""

from __future__ import annotations

from .. import lazy
from .base import Method, MethodClassifier

torch = lazy.module("torch")
F = lazy.module("torch.nn.functional")
nn = lazy.module("torch.nn")


class LinearClassifier(MethodClassifier):
    """A learnable ``nn.Linear(dim, K)`` trained with cross-entropy."""

    def __init__(self, dim: int, num_classes: int):
        super().__init__()
        self.linear = nn.Linear(dim, num_classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear(features)

    def loss(self, outputs: torch.Tensor, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(outputs, targets)

    def linear_weight(self) -> torch.Tensor:
        return self.linear.weight


class CrossEntropy(Method):
    name = "ce"

    def classifier(self, dim, assets, run) -> LinearClassifier:
        return LinearClassifier(dim, assets.num_classes)


METHOD = CrossEntropy()
