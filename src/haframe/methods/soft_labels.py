"""Soft labels (Bertinetto et al., CVPR 2020, "Making better mistakes"): a learnable linear
classifier trained towards soft targets softmax(-beta D / max D) (README, "The method" 4)."""

from __future__ import annotations

import numpy as np

from .. import lazy
from ..options import Choice, Option
from .base import Method
from .ce import LinearClassifier
from .maths import at_least_fp32

torch = lazy.module("torch")
F = lazy.module("torch.nn.functional")


def soft_label_targets(D: np.ndarray, beta: float) -> np.ndarray:
    """K x K soft-label targets: row y = softmax over j of (-beta * D[j, y] / max(D)).

    As ``make_all_soft_labels`` in fiveai/making-better-mistakes
    (better_mistakes/model/labels.py), which normalises column y of exp(-beta D / max D) and
    takes that column as the target of class y; here row y holds it. Float64; rows sum to 1.
    """
    D = np.asarray(D, dtype=np.float64)
    if D.ndim != 2 or D.shape[0] != D.shape[1]:
        raise ValueError(f"D must be a square matrix, got shape {D.shape}")
    top = D.max()
    scaled = -beta * D.T / (top if top > 0 else 1.0)  # scaled[y, j] = -beta D[j, y] / max D
    scaled -= scaled.max(axis=1, keepdims=True)
    E = np.exp(scaled)
    return E / E.sum(axis=1, keepdims=True)


def soft_labels_loss(outputs: torch.Tensor, targets: torch.Tensor, *, soft_targets: torch.Tensor) -> torch.Tensor:
    """KL(soft_targets[y] || softmax(z)) summed, divided by B * K (``nn.KLDivLoss()``'s default
    'mean' reduction, as Bertinetto et al.'s code: better_mistakes/model/run_xent.py)."""
    log_q = F.log_softmax(at_least_fp32(outputs), dim=1)
    t = soft_targets.to(device=log_q.device, dtype=log_q.dtype)[targets]
    return (torch.xlogy(t, t) - t * log_q).sum() / t.numel()


class SoftLabelClassifier(LinearClassifier):
    def __init__(self, dim: int, soft_targets: torch.Tensor):
        super().__init__(dim, soft_targets.shape[0])
        self.register_buffer("soft_targets", soft_targets, persistent=False)

    def loss(self, outputs: torch.Tensor, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return soft_labels_loss(outputs, targets, soft_targets=self.soft_targets)


class SoftLabels(Method):
    name = "soft_labels"
    params = {
        # searched over the values Bertinetto et al. ran (fiveai/making-better-mistakes,
        # experiments/softlabels_{inaturalist19,tieredimagenet}_beta{04,05,10,15,20,30}.sh)
        "beta": Option(
            float,
            10.0,
            "sharpness of the soft targets softmax(-beta D / max D) (large: plain one-hot)",
            low=0,
            low_open=True,
            search=Choice((4.0, 5.0, 10.0, 15.0, 20.0, 30.0)),
        ),
    }

    def classifier(self, dim, assets, run) -> SoftLabelClassifier:
        targets = soft_label_targets(assets.distances, run.params["beta"])
        return SoftLabelClassifier(dim, torch.from_numpy(targets).float())


METHOD = SoftLabels()
