"""Training losses (method.md section 4), vectorised over samples and classes."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, **_: object) -> torch.Tensor:
    return F.cross_entropy(logits, targets)


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
    cosine = cosine_to_frame(_at_least_fp32(features), _at_least_fp32(frame))
    pull = (cosine - similarity[targets]).pow(2).sum(dim=1).mean()
    return (1.0 - alpha) * F.cross_entropy(_at_least_fp32(logits), targets) + alpha * pull


def _at_least_fp32(x: torch.Tensor) -> torch.Tensor:
    """Upcast bf16/fp16 (autocast) outputs; keep float64 as it is."""
    return x.to(torch.promote_types(x.dtype, torch.float32))
