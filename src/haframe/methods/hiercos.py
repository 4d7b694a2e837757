"""Hier-COS (Sani & Anand, CVPR 2026; Depanshu-Sani/Hier-COS): a fixed hierarchy-consistent
orthonormal space on a type-II head.

Every non-root node v of the unpadded tree owns one direction: D = number of non-root nodes
(CIFAR-100 134, FGVC 200, iNat19 1189, tieredImageNet-H 842), the head outputs D features h,
and a fixed, seeded orthonormal D x D classifier Q (saved with the run) rotates them, x = h Q^T,
so that the directions are the coordinates of x. Nodes are numbered breadth-first, so each
depth is one contiguous block. A leaf c owns the subspace of its root-to-leaf path:
- prediction: the leaf whose subspace holds the largest norm, s_c = sqrt(sum_{v in path(c)} x_v^2),
  through the K x D path-incidence matrix (not the authors' dense D x D projectors);
- target t (D): on y's path, the node at depth l = 1..L gets exp(2/(L-l+1)) / sum_m exp(2/(L-m+1))
  (the leaf the most), 0 elsewhere; L_KL = mean_n KL(t_n || softmax(|x_n|));
- L_aux, per depth block a = |x|[block]: over samples with a node at that depth, the mean of
  sum_j |onehot_j - a_j / ||a|||; over samples whose leaf is shallower, the mean of sum_j a_j;
- loss = L_KL + alpha * L_aux.
Hier-COS's own per-depth prediction (its authors' level-wise and full-path accuracy, scored beside
the project's own): at depth l, the node v whose subspace holds the largest norm of x, the
subspace of v's ancestors, v and its descendants (theirs ``level_wise_projections`` with
``fa = fd = True``), through the D x D incidence ``relatives``; the full path is right when every
depth the sample's leaf reaches is.
Fixes of the authors' code (its "pitfalls"): the first L_aux term runs whenever any sample has a
node at the depth (theirs tests ``> 0``, skipping a depth whose valid labels are all 0), and
||a|| is bounded away from 0.
"""

from __future__ import annotations

import numpy as np

from .. import lazy
from ..hierarchy import Hierarchy
from ..options import LogUniform, Option
from .base import Method, MethodClassifier

torch = lazy.module("torch")
F = lazy.module("torch.nn.functional")


def breadth_first_nodes(hierarchy: Hierarchy) -> tuple[list[str], np.ndarray]:
    """Non-root nodes by depth (1 first), within a depth in order of first appearance along the
    class paths, and their depths."""
    names, depths = hierarchy.nodes()
    order = [i for i in np.argsort(depths, kind="stable") if depths[i] > 0]
    return [names[i] for i in order], depths[order]


def subspace_structure(hierarchy: Hierarchy) -> dict[str, np.ndarray]:
    """The incidence and label tensors of Hier-COS, built once per dataset:

    ``paths``: K x D, 1 where node d is on leaf k's path; ``depths``: D, each node's depth;
    ``level_labels``: K x L_max, the index within its depth block of the path's node at depth
    l + 1, -100 below a shallow leaf; ``targets``: K x D, the KL target distributions;
    ``relatives``: D x D, 1 where node u is an ancestor of node v, v itself or a descendant (u and
    v share a root-to-leaf path).
    """
    names, depths = breadth_first_nodes(hierarchy)
    index = {name: i for i, name in enumerate(names)}
    block_start = {int(d): int(np.flatnonzero(depths == d)[0]) for d in np.unique(depths)}
    K, D, deepest = hierarchy.num_classes, len(names), int(depths.max())
    paths = np.zeros((K, D), dtype=np.float64)
    targets = np.zeros((K, D), dtype=np.float64)
    level_labels = np.full((K, deepest), -100, dtype=np.int64)
    for k, path in enumerate(hierarchy.paths):  # once per dataset, K x depth steps
        nodes = [index[name] for name in path[1:]]
        paths[k, nodes] = 1.0
        L = len(nodes)
        weights = np.exp(2.0 / (L - np.arange(L)))
        targets[k, nodes] = weights / weights.sum()
        for depth, node in enumerate(nodes, start=1):
            level_labels[k, depth - 1] = node - block_start[depth]
    relatives = (paths.T @ paths > 0).astype(np.float64)
    return {"paths": paths, "depths": depths, "level_labels": level_labels, "targets": targets, "relatives": relatives}


def depth_blocks(depths: np.ndarray) -> list[tuple[int, int]]:
    """The [start, end) column range of each depth, shallowest first (depths sorted)."""
    _, starts = np.unique(depths, return_index=True)
    return list(zip(starts.tolist(), [*starts[1:].tolist(), len(depths)]))


def orthonormal_classifier(D: int, seed: int) -> np.ndarray:
    """A random D x D orthonormal matrix U V^T from the SVD of a seeded Gaussian (the authors' draw)."""
    U, _, Vt = np.linalg.svd(np.random.default_rng(seed).standard_normal((D, D)))
    return U @ Vt


def hiercos_loss(
    x: torch.Tensor,
    targets: torch.Tensor,
    *,
    kl_targets: torch.Tensor,
    level_labels: torch.Tensor,
    blocks: list[tuple[int, int]],
    alpha: float,
) -> torch.Tensor:
    """L_KL + alpha * L_aux for rotated outputs x (N x D) of leaves ``targets`` (module docstring)."""
    magnitude = x.abs()
    t = kl_targets[targets]
    kl = (torch.xlogy(t, t) - t * F.log_softmax(magnitude, dim=1)).sum(dim=1).mean()
    auxiliary = x.new_zeros(())
    labels = level_labels[targets]
    for level, (start, end) in enumerate(blocks):
        a, y = magnitude[:, start:end], labels[:, level]
        valid = y >= 0
        if valid.any():
            share = a[valid] / a[valid].norm(dim=1, keepdim=True).clamp_min(torch.finfo(a.dtype).tiny)
            auxiliary = auxiliary + (F.one_hot(y[valid], end - start).to(a.dtype) - share).abs().sum(dim=1).mean()
        if not valid.all():
            auxiliary = auxiliary + a[~valid].sum(dim=1).mean()
    return kl + alpha * auxiliary


class HierCOSClassifier(MethodClassifier):
    """x = h Q^T with a fixed orthonormal Q (saved with the run); leaf scores are path norms."""

    def __init__(self, rotation: torch.Tensor, structure: dict[str, np.ndarray], alpha: float):
        super().__init__()
        self.register_buffer("weight", rotation.clone())
        self.register_buffer("paths", torch.from_numpy(structure["paths"]).float(), persistent=False)
        self.register_buffer("kl_targets", torch.from_numpy(structure["targets"]).float(), persistent=False)
        self.register_buffer("level_labels", torch.from_numpy(structure["level_labels"]), persistent=False)
        self.register_buffer("relatives", torch.from_numpy(structure["relatives"]).float(), persistent=False)
        self.blocks = depth_blocks(structure["depths"])
        self.alpha = alpha

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features @ self.weight.T.to(features.dtype)

    def loss(self, outputs: torch.Tensor, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        x = outputs.to(torch.promote_types(outputs.dtype, torch.float32))
        return hiercos_loss(
            x,
            targets,
            kl_targets=self.kl_targets.to(x.dtype),
            level_labels=self.level_labels,
            blocks=self.blocks,
            alpha=self.alpha,
        )

    def class_scores(self, outputs: torch.Tensor) -> torch.Tensor:
        x = outputs.to(torch.promote_types(outputs.dtype, torch.float32))
        return ((x * x) @ self.paths.to(x.dtype).T).sqrt()

    def level_hits(self, outputs: torch.Tensor, leaf_labels: torch.Tensor) -> torch.Tensor:
        x = outputs.to(torch.promote_types(outputs.dtype, torch.float32))
        squared_norms = (x * x) @ self.relatives.to(x.dtype)  # N x D: symmetric, so no transpose
        labels = self.level_labels[leaf_labels]
        hits = torch.stack(
            [
                squared_norms[:, start:end].argmax(dim=1) == labels[:, level]
                for level, (start, end) in enumerate(self.blocks)
            ],
            dim=1,
        ).to(torch.int8)
        return torch.where(labels >= 0, hits, -1)


class HierCOS(Method):
    name = "hiercos"
    heads = ("II",)
    ranked_by = "the norm of the projection onto each leaf's path subspace (Hier-COS)"
    params = {
        # searched log-uniformly: the authors' scripts span four decades (experiments/*/hier-cos.sh:
        # CIFAR-100 0.05, FGVC-Aircraft 0.1, iNat19 1e-3, tieredImageNet-H 1e-5)
        "alpha": Option(
            float,
            0.1,
            "weight of the per-level L1 term beside the KL term",
            low=0,
            note="weight of the per-level L1 term",
            search=LogUniform(1e-5, 1.0),
        ),
    }

    def output_width(self, assets) -> int:
        return len(breadth_first_nodes(assets.hierarchy)[0])

    def tree_problems(self, run, tree) -> dict[str, str]:
        d = run.training.feature_dim
        if d is None or tree.hierarchy is None:
            return {}
        D = len(breadth_first_nodes(tree.hierarchy)[0])
        if d == D:
            return {}
        return {
            "training.feature_dim": f"d = {d}, but Hier-COS needs d = D = {D}, the tree's non-root nodes; leave it null"
        }

    def classifier(self, dim, assets, run) -> HierCOSClassifier:
        structure = subspace_structure(assets.hierarchy)
        D = structure["paths"].shape[1]
        if dim != D:
            raise ValueError(
                f"{run.name}: Hier-COS needs a head of width D = {D} (the non-root nodes), got {dim}; "
                "leave training.feature_dim null"
            )
        rotation = torch.from_numpy(orthonormal_classifier(D, run.seed)).float()
        return HierCOSClassifier(rotation, structure, run.params["alpha"])


METHOD = HierCOS()
