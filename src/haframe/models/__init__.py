"""Backbones and heads; ``build_model`` assembles them for a run."""

from __future__ import annotations

import torch
from torch import nn

from .backbones import build_backbone
from .heads import TypeIIHead


class Classifier(nn.Module):
    """backbone -> head -> classifier; ``forward`` returns (logits, features)."""

    def __init__(self, backbone: nn.Module, head: nn.Module, classifier: nn.Linear):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.classifier = classifier

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.head(self.backbone(images))
        return self.classifier(features), features


def build_model(
    *, backbone: str, head: str, num_classes: int, feature_dim: int, frame: torch.Tensor | None
) -> Classifier:
    """A model whose classifier is learnable, or fixed to ``frame`` (K x d, no bias)."""
    body = build_backbone(backbone)
    if head != "II":
        raise ValueError(f"head must be 'II', got {head!r}")
    head_module = TypeIIHead(body.out_channels, feature_dim)
    if frame is None:
        classifier = nn.Linear(feature_dim, num_classes)
    else:
        classifier = nn.Linear(feature_dim, num_classes, bias=False)
        with torch.no_grad():
            classifier.weight.copy_(frame)
        classifier.weight.requires_grad_(False)
    return Classifier(body, head_module, classifier)
