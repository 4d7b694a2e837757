"""BiLT, the Bidirectional Logits Tree (Lu et al., AAAI 2025; ZhiguangLuu/BiLT), on a type-I head.

Levels h = 0 (leaves) .. H-1 (below the root) of the padded tree, K_h classes each:
- base logits, finest first: z_0 = W f + b; z_h = g_h(z_{h-1}) with
  g_h = BN -> Linear(K_{h-1}, K_h) -> BN -> ELU (LeakyReLU(0.1) on WRN-28-8) -> Linear(K_h, K_h);
- AIGDL, per level: p = softmax(z_h), a learned matrix A_h (K_h x K_h, initialised to 1/K_h,
  under weight decay) masked on its diagonal and row-L2-normalised, A~_h, and the fixed cost
  matrix C_h (levels from h up to the LCA; C_0 = D): corrected logits
  z'_h = beta * stopgrad(p) A~_h^T - p C_h^T;
- loss = sum_h lambda_h [CE(z_h, y_h) + LS(z'_h, y_h)], lambda_h = exp(-level_decay * h)
  (max 1, at the leaves); LS(z', y) = (1 - smoothing) CE(z', y)
  + smoothing * sum_k softmax(-sharpness * M_h[y])_k (-log softmax(z')_k) with the soft-target
  matrix M_h = C_h - beta * rowL2norm(stopgrad(A_h) masked);
- prediction: the finest corrected logits z'_0.

The authors' variants differ in where gradients flow; this is their iNat19 / tieredImageNet-H
form (``ResNet50_ours_l7_norm``, ``_l12_norm``: p detached in the A~ term, M_h from the detached
A_h), for every dataset. C_h are fixed buffers (theirs are nn.Linear weights, frozen only because
their optimiser leaves them out), not the coarsest level's unnormalised A of ``_l12_norm``.
Their names: alpha = ``level_decay``, beta = ``beta``, epsilon = ``smoothing``,
gamma = ``sharpness``.
"""

from __future__ import annotations

import math

import numpy as np

from .. import lazy
from ..models.records import backbone
from ..options import Option, Uniform
from .base import Method, MethodClassifier
from .maths import at_least_fp32

torch = lazy.module("torch")
F = lazy.module("torch.nn.functional")
nn = lazy.module("torch.nn")


def level_costs(levels: np.ndarray) -> list[np.ndarray]:
    """Per level h (0 = leaves, padded tree), the K_h x K_h matrix of the number of levels from
    h up to the lowest common ancestor of two level-h nodes (the authors' cost matrices)."""
    costs = []
    for level in range(levels.shape[1] - 1):
        nodes, representative = np.unique(levels[:, level], return_index=True)  # a leaf below each node
        above = levels[representative, level:]  # each node's ancestors, from itself to the root
        costs.append((above[:, None, :] != above[None, :, :]).sum(axis=2))
    return costs


def smoothed_cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, soft_costs: torch.Tensor, smoothing: float, sharpness: float
) -> torch.Tensor:
    """(1 - smoothing) CE + smoothing * the CE to softmax(-sharpness * soft_costs[y]) (the
    authors' ``LabelSmoothingCrossEntropy``)."""
    log_q = F.log_softmax(logits, dim=1)
    soft = F.softmax(-sharpness * soft_costs[targets], dim=1)
    return (
        smoothing * -(soft * log_q).sum(dim=1) + (1.0 - smoothing) * -log_q.gather(1, targets[:, None])[:, 0]
    ).mean()


def bilt_loss(
    base: list[torch.Tensor],
    corrected: list[torch.Tensor],
    level_targets: torch.Tensor,
    learned: list[torch.Tensor],
    costs: list[torch.Tensor],
    *,
    beta: float,
    level_decay: float,
    smoothing: float,
    sharpness: float,
) -> torch.Tensor:
    """sum_h lambda_h [CE(z_h, y_h) + LS(z'_h, y_h)] (module docstring); lists finest first."""
    loss = 0.0
    for h, (z, z_corrected, A, C) in enumerate(zip(base, corrected, learned, costs)):
        y = level_targets[:, h]
        soft_costs = C - beta * normalised_difference(A.detach())
        level_loss = F.cross_entropy(z, y) + smoothed_cross_entropy(z_corrected, y, soft_costs, smoothing, sharpness)
        loss = loss + math.exp(-level_decay * h) * level_loss
    return loss


def normalised_difference(A: torch.Tensor) -> torch.Tensor:
    """A with its diagonal masked, rows L2-normalised (the authors' ``F.normalize``, eps 1e-12)."""
    return F.normalize(A * (1.0 - torch.eye(A.shape[0], dtype=A.dtype, device=A.device)), p=2, dim=1)


def corrected_logits(z: torch.Tensor, A: torch.Tensor, C: torch.Tensor, beta: float) -> torch.Tensor:
    """z' = beta * stopgrad(softmax(z)) A~^T - softmax(z) C^T."""
    p = F.softmax(z, dim=1)
    return beta * p.detach() @ normalised_difference(A).T - p @ C.T


class BiLTClassifier(MethodClassifier):
    def __init__(
        self,
        dim: int,
        level_sizes: list[int],
        level_table: torch.Tensor,
        costs: list[np.ndarray],
        activation: type[nn.Module],
        params: dict,
    ):
        super().__init__()
        self.finest = nn.Linear(dim, level_sizes[0])
        self.coarser = nn.ModuleList(
            nn.Sequential(
                nn.BatchNorm1d(finer),
                nn.Linear(finer, coarser),
                nn.BatchNorm1d(coarser),
                activation(),
                nn.Linear(coarser, coarser),
            )
            for finer, coarser in zip(level_sizes, level_sizes[1:])
        )
        self.learned = nn.ParameterList(nn.Parameter(torch.full((n, n), 1.0 / n)) for n in level_sizes)
        for h, cost in enumerate(costs):
            self.register_buffer(f"cost_{h}", torch.from_numpy(cost).float(), persistent=False)
        self.register_buffer("level_table", level_table, persistent=False)
        self.params = dict(params)

    def costs(self) -> list[torch.Tensor]:
        return [getattr(self, f"cost_{h}") for h in range(len(self.learned))]

    def forward(self, features: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        base = [self.finest(features)]
        for g in self.coarser:
            base.append(g(base[-1]))
        base = [at_least_fp32(z) for z in base]
        corrected = [
            corrected_logits(z, A, C.to(z.dtype), self.params["beta"])
            for z, A, C in zip(base, self.learned, self.costs())
        ]
        return base, corrected

    def loss(self, outputs, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        base, corrected = outputs
        return bilt_loss(base, corrected, self.level_table[targets], list(self.learned), self.costs(), **self.params)

    def class_scores(self, outputs) -> torch.Tensor:
        return outputs[1][0]

    def linear_weight(self) -> torch.Tensor:
        """The finest base classifier (the corrected logits re-rank its softmax)."""
        return self.finest.weight


class BiLT(Method):
    name = "bilt"
    heads = ("I",)
    ranked_by = "the finest level's corrected logits z' (BiLT's learned cost correction)"
    # Defaults: the authors' code; search spaces span them and their README's published runs
    # (FGVC-Aircraft: level_decay 1, beta 0.5, smoothing 0.5, sharpness 1; iNat19: sharpness 1.5).
    params = {
        "level_decay": Option(
            float,
            0.1,
            "how fast the level weights exp(-level_decay * h) fall from the leaves up",
            low=0,
            note="the level weights exp(-level_decay * h); the authors' alpha",
            search=Uniform(0.0, 2.0),
        ),
        "beta": Option(
            float,
            1.0,
            "weight of the learned cost correction",
            low=0,
            note="weight of the learned cost correction",
            search=Uniform(0.0, 2.0),
        ),
        "smoothing": Option(
            float,
            0.1,
            "share of the soft targets in the corrected logits' loss",
            low=0,
            high=1,
            note="the soft-target share; the authors' epsilon",
            search=Uniform(0.0, 1.0),
        ),
        "sharpness": Option(
            float,
            1.0,
            "sharpness of the soft targets softmax(-sharpness * M)",
            low=0,
            note="soft targets softmax(-sharpness * M); the authors' gamma",
            search=Uniform(0.5, 2.0),
        ),
    }

    def classifier(self, dim, assets, run) -> BiLTClassifier:
        slope = backbone(run.training.backbone).leaky_relu_slope  # the backbone's activation (WRN: LeakyReLU(0.1))
        activation = nn.ELU if slope is None else lambda: nn.LeakyReLU(slope)
        levels = assets.levels
        return BiLTClassifier(
            dim,
            assets.level_sizes,
            torch.from_numpy(levels[:, : assets.height]),
            level_costs(levels),
            activation,
            dict(run.params),
        )


METHOD = BiLT()
