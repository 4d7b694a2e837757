"""A run's training objective: its loss function bound to everything the loss needs from the
hierarchy and frame stages (built once per run), plus the classifier's per-step context."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from . import frames
from .hierarchy import read_tsv
from .hierarchy_targets import (
    HAFEATURE_MARGIN_LEVELS,
    hxe_tensors,
    level_parents,
    soft_label_targets,
)
from .io import load_npz
from .methods import get_method, loss_function


class Objective:
    def __init__(self, run: dict, hierarchy_dir: str | Path, frames_dir: str | Path, device: torch.device):
        hierarchy_dir, frames_dir = Path(hierarchy_dir), Path(frames_dir)
        self.method = get_method(run["method"])
        self.loss_fn = loss_function(self.method)
        self.params = {k: v for k, v in run["params"].items() if k != "margin_levels"}
        levels = np.load(hierarchy_dir / "levels.npy")
        self.num_classes = levels.shape[0]
        self.dim = run["training"]["feature_dim"] or self.num_classes
        height = levels.shape[1] - 1
        self.level_sizes = [int(levels[:, level].max()) + 1 for level in range(height)]  # leaf .. below root
        self.frame = None
        self.level_table = None
        self.static: dict = {}
        kind = self.method.classifier
        if kind in ("haframe", "etf"):
            solved = load_npz(frames_dir / f"{kind}.npz")
            W = frames.draw_frame(solved["factor"], self.dim, run["seed"])
            frames.check_frame(W, solved["S"])
            self.frame = torch.from_numpy(W).float()
            self.static = {"frame": self.frame.to(device), "similarity": torch.from_numpy(solved["S"]).float().to(device)}
        if self.method.needs_levels:
            self.level_table = torch.from_numpy(levels[:, :height]).to(device)
            self.static["level_parents"] = [None] + [torch.from_numpy(p).to(device) for p in level_parents(levels)[1:height]]
            margin = run["params"].get("margin_levels") or HAFEATURE_MARGIN_LEVELS.get(run["kind"]) or list(range(1, height))
            self.static["margin_levels"] = list(margin)
        if self.method.name == "soft_labels":
            D = np.load(hierarchy_dir / "distances.npy")
            self.static["soft_targets"] = torch.from_numpy(soft_label_targets(D, self.params["beta"])).float().to(device)
        if self.method.name == "hxe":
            matrix, membership = hxe_tensors(read_tsv(hierarchy_dir / "hierarchy.tsv"), self.params["alpha"])
            self.static["hxe_matrix"] = torch.from_numpy(matrix).float().to(device)
            self.static["hxe_membership"] = torch.from_numpy(membership).float().to(device)

    def __call__(self, outputs, targets: torch.Tensor, features: torch.Tensor, model, shuffle_rng: random.Random) -> torch.Tensor:
        context = {**self.static, "features": features, "shuffle_rng": shuffle_rng, **model.loss_context()}
        if self.level_table is not None:
            context["level_targets"] = self.level_table[targets]
        return self.loss_fn(outputs, targets, **context, **self.params)
