"""Backbones, heads and classifiers; ``build_model`` assembles them for a run."""

from __future__ import annotations

import torch
from torch import nn

from ..hierarchy_targets import flamingo_own_slices
from .backbones import build_backbone, wrn_conv_init_
from .classifiers import Flamingo, FrozenFrame, HAFeatureLevels
from .heads import TypeIHead, TypeIIHead


class Classifier(nn.Module):
    """backbone -> head -> classifier; ``forward`` returns (logits, features), where logits
    is a list (finest level first) for per-level classifiers."""

    def __init__(self, backbone: nn.Module, head: nn.Module, classifier: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.classifier = classifier

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor | list[torch.Tensor], torch.Tensor]:
        features = self.head(self.backbone(images))
        return self.classifier(features), features

    def loss_context(self) -> dict:
        """Per-step inputs of the loss that the classifier owns (e.g. normalised weights)."""
        return self.classifier.loss_context() if hasattr(self.classifier, "loss_context") else {}


def leaf_logits(outputs: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
    return outputs[0] if isinstance(outputs, (list, tuple)) else outputs


def build_model(
    *,
    backbone: str,
    head: str,
    num_classes: int,
    feature_dim: int | None,
    classifier: str,
    frame: torch.Tensor | None = None,
    level_sizes: list[int] | None = None,
    type_I_width: int | None = 600,
) -> Classifier:
    """Assemble a model. ``feature_dim`` is the type-II width d (None: d = K); the type-I
    width is the backbone's (WRN, small CNN) or ``type_I_width`` after ResNet-50."""
    body = build_backbone(backbone)
    if head == "II":
        head_module = TypeIIHead(body.out_channels, feature_dim or num_classes,
                                 bn_momentum=0.001 if backbone == "wrn28_8" else 0.1)
        if backbone == "wrn28_8":
            wrn_conv_init_(head_module.projection)  # as the authors' WRN initialises it
        dim = feature_dim or num_classes
    elif head == "I":
        head_module = TypeIHead(body.out_channels, type_I_width if backbone == "resnet50" else None)
        dim = head_module.out_features
    else:
        raise ValueError(f"head must be 'I' or 'II', got {head!r}")
    if classifier == "learnable":
        last = nn.Linear(dim, num_classes)
    elif classifier in ("haframe", "etf"):
        if frame is None or frame.shape != (num_classes, dim):
            raise ValueError(f"a {classifier} classifier needs a {num_classes} x {dim} frame")
        last = FrozenFrame(frame)
    elif classifier == "flamingo":
        last = Flamingo(dim, level_sizes, flamingo_own_slices(dim, len(level_sizes)))
    elif classifier == "hafeature":
        last = HAFeatureLevels(dim, level_sizes)
    else:
        raise ValueError(f"unknown classifier kind {classifier!r}")
    return Classifier(body, head_module, last)
