"""HAFrame (Liang & Davis, ICCV 2023): a fixed hierarchy-aware frame as the classifier, and a
cosine loss pulling the features onto it (README, "The method" 2 and 4).

Loss: (1 - alpha) CE(h W^T, y) + alpha * mean_b sum_c (cos(h_b, w_c) - S[y_b, c])^2, with the
frame W (K x d, W W^T = S) drawn for the run's seed from the solved similarity S. Logits have
no bias and no scale. ``alpha: 0`` is the paper's "fixed frame only" ablation.
"""

from __future__ import annotations

from .. import lazy
from ..options import Option, Uniform
from .base import Method, MethodClassifier
from .maths import at_least_fp32

torch = lazy.module("torch")
F = lazy.module("torch.nn.functional")


def cosine_to_frame(features: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
    """B x K cosines between each feature and each frame vector."""
    return F.normalize(features, dim=1) @ F.normalize(frame, dim=1).T


def haframe_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    *,
    features: torch.Tensor,
    frame: torch.Tensor,
    similarity: torch.Tensor,
    alpha: float,
) -> torch.Tensor:
    """(1 - alpha) CE(h W^T, y) + alpha * mean_b sum_c (cos(h_b, w_c) - S[y_b, c])^2."""
    cosine = cosine_to_frame(at_least_fp32(features), at_least_fp32(frame))
    pull = (cosine - similarity[targets]).pow(2).sum(dim=1).mean()
    return (1.0 - alpha) * F.cross_entropy(at_least_fp32(logits), targets) + alpha * pull


class FrozenFrame(MethodClassifier):
    """Logits h W^T with a fixed frame W (K x d): no bias, no scale, never trained.

    ``weight`` is saved with the run (a persistent buffer); ``similarity`` (the target
    cosines S) is derived from the frame stage and not saved.
    """

    def __init__(self, frame: torch.Tensor, similarity: torch.Tensor, alpha: float):
        super().__init__()
        self.register_buffer("weight", frame.clone())
        self.register_buffer("similarity", similarity, persistent=False)
        self.alpha = alpha

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features @ self.weight.T.to(features.dtype)

    def loss(self, outputs: torch.Tensor, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return haframe_loss(
            outputs, targets, features=features, frame=self.weight, similarity=self.similarity, alpha=self.alpha
        )

    def linear_weight(self) -> torch.Tensor:
        return self.weight


def frame_width_problems(method: str, run, tree) -> dict[str, str]:
    """A frame of K unit vectors with prescribed cosines lives in d >= K dimensions."""
    d, K = run.training.feature_dim, tree.classes
    if d is None or K is None or d >= K:
        return {}
    return {
        "training.feature_dim": f"d = {d} is smaller than the K = {K} classes; method {method!r} uses a frame of "
        f"K vectors with prescribed cosines, which needs d >= K: set it to {K} or more, "
        "or null (d = K)"
    }


class HAFrame(Method):
    name = "haframe"
    heads = ("II",)
    params = {
        # the paper's values: 0.4 (CIFAR-100, iNat19), 0.5 (FGVC-Aircraft, tieredImageNet-H): config/config.yaml
        "alpha": Option(
            float,
            0.4,
            "weight of the cosine pull onto the frame; 1 - alpha weighs the cross-entropy",
            low=0,
            high=1,
            note="0: fixed frame, plain CE",
            search=Uniform(0.0, 1.0),
        ),
    }

    def tree_problems(self, run, tree) -> dict[str, str]:
        return frame_width_problems(self.name, run, tree)

    def classifier(self, dim, assets, run) -> FrozenFrame:
        W, S = assets.draw_frame("haframe", dim, run.seed)
        return FrozenFrame(torch.from_numpy(W).float(), torch.from_numpy(S).float(), run.params["alpha"])


METHOD = HAFrame()
