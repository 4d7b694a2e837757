"""Heads between the backbone's feature map and the classifier (README, "The method" 3).

Every head has ``projection`` (trained with the backbone's optimiser group) and
``transform`` (the head group), so one grouping rule serves both head types.

Type-II WRN version: the authors' ``HAFrameWideResNet`` uses BN momentum 0.001 for the
BN1d(K) after pooling; pass ``TypeIIHead(..., bn_momentum=0.001)`` for it (default 0.1,
as for ResNet-50). ``bn_momentum`` sets that BN only: the residual blocks' BNs keep PyTorch's
default 0.1, as in the authors' WRN model.
"""

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
            nn.BatchNorm1d(dim, momentum=bn_momentum),  # the authors' WRN sets only this one
            ResidualBlock(dim),
            ResidualBlock(dim),
        )

    def forward(self, feature_map: torch.Tensor) -> torch.Tensor:
        pooled = self.projection(feature_map).mean(dim=(2, 3))
        return self.transform(pooled)


class TypeIHead(nn.Module):
    """Type-I head: pooling (+ for ResNet-50 a 2048 -> ``hidden`` block) before a learnable classifier.

    ``hidden`` given (ResNet-50, 600 in the paper; 1010 / 608 for the neural-collapse runs):
    MaxPool2d(``pool_size``) over the map, which must be ``pool_size`` x ``pool_size`` so the
    pool is global (7 x 7 for 224 input, as the authors' ``custom_resnet.ResNet50``)
    -> flatten -> BN1d(C) -> Linear(C, hidden) (with bias) -> BN1d(hidden) -> ELU.

    ``hidden=None`` (WRN-28-8): global average pool -> flatten; C-d features, no layers.

    ``projection`` is an empty ``nn.Identity`` (nothing joins the backbone's group);
    ``transform`` is the trainable block (an empty ``nn.Sequential`` without ``hidden``).
    """

    def __init__(self, in_channels: int, hidden: int | None, pool_size: int = 7, bn_momentum: float = 0.1):
        super().__init__()
        self.in_channels = in_channels
        self.hidden = hidden
        self.pool_size = pool_size
        self.projection = nn.Identity()
        if hidden is None:
            self.pool = None
            self.transform = nn.Sequential()
            self.out_features = in_channels
        else:
            self.pool = nn.MaxPool2d(kernel_size=pool_size, stride=pool_size)
            self.transform = nn.Sequential(
                nn.BatchNorm1d(in_channels, momentum=bn_momentum),
                nn.Linear(in_channels, hidden),
                nn.BatchNorm1d(hidden, momentum=bn_momentum),
                nn.ELU(),
            )
            self.out_features = hidden

    def forward(self, feature_map: torch.Tensor) -> torch.Tensor:
        x = self.projection(feature_map)
        if self.pool is None:
            pooled = x.mean(dim=(2, 3))
        else:
            if tuple(x.shape[-2:]) != (self.pool_size, self.pool_size):
                raise ValueError(
                    f"TypeIHead max-pools a {self.pool_size}x{self.pool_size} map globally; got "
                    f"{tuple(x.shape[-2:])} (set pool_size to the map size)"
                )
            pooled = torch.flatten(self.pool(x), 1)
        return self.transform(pooled)
