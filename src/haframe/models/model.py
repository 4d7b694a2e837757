"""``Model``: backbone -> head -> a method's classifier, and ``build_body``."""

from __future__ import annotations

import torch
from torch import nn

from .backbones import build_backbone
from .heads import TypeIHead, TypeIIHead
from .records import backbone as backbone_record
from .records import resolve


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

    ``type_II_width`` is d of the type-II head; ``type_I_width`` the type-I head's hidden width,
    for a backbone whose record has one (ResNet-50; the WRN and the small CNNs feed their
    pooled map to the classifier). The head details come from the backbone's record.
    """
    record = backbone_record(backbone)
    body = build_backbone(backbone)
    if head == "II":
        module = TypeIIHead(body.out_channels, type_II_width, bn_momentum=record.type_II_bn_momentum)
        if record.type_II_projection_init:
            resolve(record.type_II_projection_init)(module.projection)  # as the authors' WRN initialises it
        return body, module, type_II_width
    if head == "I":
        module = TypeIHead(body.out_channels, type_I_width if record.type_I_hidden else None)
        return body, module, module.out_features
    raise ValueError(f"head must be 'I' or 'II', got {head!r}")
