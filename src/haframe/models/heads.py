"""Heads between the backbone's feature map and the classifier (method.md section 3)."""

from __future__ import annotations

import torch
from torch import nn


class ResidualBlock(nn.Module):
    """x + PReLU(BN(Linear(PReLU(BN(Linear(x)))))), bias-free linears, per-channel PReLU."""

    def __init__(self, dim: int, bn_momentum: float = 0.1):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(dim, dim, bias=False),
            nn.BatchNorm1d(dim, momentum=bn_momentum),
            nn.PReLU(dim),
            nn.Linear(dim, dim, bias=False),
            nn.BatchNorm1d(dim, momentum=bn_momentum),
            nn.PReLU(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class TypeIIHead(nn.Module):
    """1x1 conv to d channels (no bias) -> global average pool -> BN1d(d) -> 2 residual blocks.

    The 1x1 conv belongs to the backbone's optimiser group (``projection``); BN and the
    transformation layer form the head group (``transform``).
    """

    def __init__(self, in_channels: int, dim: int, bn_momentum: float = 0.1):
        super().__init__()
        self.projection = nn.Conv2d(in_channels, dim, kernel_size=1, bias=False)
        self.transform = nn.Sequential(
            nn.BatchNorm1d(dim, momentum=bn_momentum),
            ResidualBlock(dim, bn_momentum),
            ResidualBlock(dim, bn_momentum),
        )

    def forward(self, feature_map: torch.Tensor) -> torch.Tensor:
        pooled = self.projection(feature_map).mean(dim=(2, 3))
        return self.transform(pooled)
