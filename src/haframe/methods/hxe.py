"""Hierarchical cross-entropy (Bertinetto et al., CVPR 2020, "Making better mistakes"): the
leaf probability factorised into conditionals along the root-to-leaf path of the unpadded tree,
the term of the edge into node C weighted exp(-decay * depth(C)) (README, "The method" 4)."""

from __future__ import annotations

import math

import numpy as np

from .. import lazy
from ..hierarchy import Hierarchy
from ..options import Choice, Option
from .base import Method
from .ce import LinearClassifier
from .maths import at_least_fp32

torch = lazy.module("torch")
F = lazy.module("torch.nn.functional")


def hxe_weights(hierarchy: Hierarchy, decay: float, normalize: bool = True) -> tuple[list[str], np.ndarray]:
    """Node names and edge weights w_C = exp(-decay * depth(C)) of the unpadded tree.

    The weight of node C is the weight of the edge parent(C) -> C (the root's weight is
    never used by the loss). As ``get_exponential_weighting`` in fiveai/making-better-mistakes
    (better_mistakes/trees.py, used with normalize=True by scripts/start_training.py): the
    normalising total is the sum of exp(-decay * depth) over EVERY position of the tree, the
    root (weight 1) and the leaves included, so all node weights, root included, sum to 1.
    """
    names, depth = hierarchy.nodes()
    w = np.exp(-decay * depth.astype(np.float64))
    if normalize:
        w = w / math.fsum(w.tolist())
    return names, w


def hxe_tensors(hierarchy: Hierarchy, decay: float, normalize: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(hxe_matrix K x n_nodes, membership n_nodes x K) for ``hxe_loss``.

    membership[n, k] = 1 if leaf k lies in the subtree of node n (unpadded tree, the root is
    node 0). With P = softmax(z) @ membership.T, the HXE of class y is
    -sum over the edges parent -> C of y's root-to-leaf path of w_C log(P_C / P_parent)
    = -(hxe_matrix[y] * log P).sum(), hxe_matrix[y] holding +w_C at C and -w_C at parent(C)
    summed over the path (so every row sums to 0). Weights as ``hxe_weights``.
    """
    names, w = hxe_weights(hierarchy, decay, normalize)
    index = {name: i for i, name in enumerate(names)}
    K, n = hierarchy.num_classes, len(names)
    membership = np.zeros((n, K), dtype=np.float64)
    matrix = np.zeros((K, n), dtype=np.float64)
    for k, path in enumerate(hierarchy.paths):  # once per dataset, K x depth steps
        nodes = [index[name] for name in path]
        membership[nodes, k] = 1.0
        for parent, child in zip(nodes, nodes[1:]):
            matrix[k, child] += w[child]
            matrix[k, parent] -= w[child]
    return matrix, membership


def hxe_loss(
    outputs: torch.Tensor, targets: torch.Tensor, *, hxe_matrix: torch.Tensor, hxe_membership: torch.Tensor
) -> torch.Tensor:
    """mean_b -sum over edges parent -> C of y_b's path of w_C log(P_C / P_parent), node
    probabilities P = softmax(z) @ membership^T, computed as -mean_b (hxe_matrix[y_b] * log P_b).sum().

    Only the nodes with a non-zero coefficient enter the log (off-path nodes whose P underflows
    to 0 would give 0 * -inf); a path node whose P underflows is clamped to the smallest normal
    float instead of the authors' dropping of that edge (their ``num != 0`` mask): the two agree
    whenever no probability underflows to exactly 0.
    """
    p = F.softmax(at_least_fp32(outputs), dim=1)
    P = p @ hxe_membership.to(device=p.device, dtype=p.dtype).T
    coef = hxe_matrix.to(device=p.device, dtype=p.dtype)[targets]
    used = torch.where(coef != 0, P, torch.ones_like(P)).clamp_min(torch.finfo(P.dtype).tiny)
    return -(coef * torch.log(used)).sum(dim=1).mean()


class HXEClassifier(LinearClassifier):
    def __init__(self, dim: int, matrix: torch.Tensor, membership: torch.Tensor):
        super().__init__(dim, matrix.shape[0])
        self.register_buffer("hxe_matrix", matrix, persistent=False)
        self.register_buffer("hxe_membership", membership, persistent=False)

    def loss(self, outputs: torch.Tensor, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return hxe_loss(outputs, targets, hxe_matrix=self.hxe_matrix, hxe_membership=self.hxe_membership)


class HierarchicalCrossEntropy(Method):
    name = "hxe"
    params = {
        # searched over the values Bertinetto et al. ran (fiveai/making-better-mistakes,
        # experiments/hxe_inaturalist19_alpha{0.1..0.7,0.9}.sh; tieredImageNet-H 0.1..0.6), their alpha
        "decay": Option(
            float,
            0.1,
            "how much less a deeper edge of the path counts: weights exp(-decay * depth)",
            low=0,
            note="the edge weights' exp(-decay * depth)",
            search=Choice((0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.9)),
        ),
    }
    renamed = {"alpha": "decay"}

    def classifier(self, dim, assets, run) -> HXEClassifier:
        matrix, membership = hxe_tensors(assets.hierarchy, run.params["decay"])
        return HXEClassifier(dim, torch.from_numpy(matrix).float(), torch.from_numpy(membership).float())


METHOD = HierarchicalCrossEntropy()
