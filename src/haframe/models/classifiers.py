"""Classifier kinds (the last layer). Each maps features to logits; per-level kinds return a
list of logits, finest level first, and the leaf logits are the first entry."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class FrozenFrame(nn.Module):
    """Logits h W^T with a fixed frame W (K x d): no bias, no scale, never trained."""

    def __init__(self, frame: torch.Tensor):
        super().__init__()
        self.register_buffer("weight", frame.clone())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features @ self.weight.T.to(features.dtype)


class Flamingo(nn.Module):
    """One linear classifier per level on a slice of the features (Chang et al., CVPR 2021):
    level i sees its own slice plus the detached slices of all finer levels."""

    def __init__(self, dim: int, level_sizes: list[int], slices: list[tuple[int, int]]):
        super().__init__()
        self.slices = slices
        self.levels = nn.ModuleList(nn.Linear(dim - start, n) for n, (start, _) in zip(level_sizes, slices))

    def forward(self, features: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for linear, (start, end) in zip(self.levels, self.slices):
            inputs = torch.cat([features[:, start:end], features[:, end:].detach()], dim=1)
            outputs.append(linear(inputs))
        return outputs


class HAFeatureLevels(nn.Module):
    """One classifier per level with L2-normalised weights: logits = h w_hat^T + b."""

    def __init__(self, dim: int, level_sizes: list[int]):
        super().__init__()
        self.weights = nn.ParameterList(nn.Parameter(torch.empty(n, dim)) for n in level_sizes)
        self.biases = nn.ParameterList(nn.Parameter(torch.zeros(n)) for n in level_sizes)
        for weight in self.weights:
            nn.init.kaiming_uniform_(weight, a=5**0.5)  # nn.Linear's default

    def normalised_weights(self) -> list[torch.Tensor]:
        return [F.normalize(w, dim=1) for w in self.weights]

    def forward(self, features: torch.Tensor) -> list[torch.Tensor]:
        return [features @ w.T.to(features.dtype) + b for w, b in zip(self.normalised_weights(), self.biases)]

    def loss_context(self) -> dict:
        return {"level_weights": self.normalised_weights()}
