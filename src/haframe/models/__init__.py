"""Backbones and heads, and ``Model``: backbone -> head -> a method's classifier."""

from __future__ import annotations

import torch
from torch import nn

from .backbones import build_backbone, wrn_conv_init_
from .heads import TypeIHead, TypeIIHead


class Model(nn.Module):
    """backbone -> head -> classifier; ``forward`` returns (outputs, features), ``features``
    being the classifier's input (what the cosine losses and the neural-collapse analysis read)."""

    def __init__(self, backbone: nn.Module, head: nn.Module, classifier: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.classifier = classifier

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor | list[torch.Tensor], torch.Tensor]:
        features = self.head(self.backbone(images))
        return self.classifier(features), features


def build_body(backbone: str, head: str, *, type_II_width: int, type_I_width: int) -> tuple[nn.Module, nn.Module, int]:
    """(backbone, head, feature width) as the authors build them (README, "The method" 3).

    ``type_II_width`` is d of the type-II head; ``type_I_width`` the ResNet-50 type-I head's
    hidden width (the WRN and the small CNN feed their pooled map to the classifier).
    """
    body = build_backbone(backbone)
    if head == "II":
        module = TypeIIHead(body.out_channels, type_II_width, bn_momentum=0.001 if backbone == "wrn28_8" else 0.1)
        if backbone == "wrn28_8":
            wrn_conv_init_(module.projection)  # as the authors' WRN initialises it
        return body, module, type_II_width
    if head == "I":
        module = TypeIHead(body.out_channels, type_I_width if backbone == "resnet50" else None)
        return body, module, module.out_features
    raise ValueError(f"head must be 'I' or 'II', got {head!r}")
