"""Precomputed, vectorisable structures derived from a Hierarchy for the hierarchical losses.

Everything here is built once per dataset (numpy, float64/int64) and handed to the losses in
``haframe.losses`` as tensors, so that a training step has no Python loop over samples or
classes. Level numbering follows method.md section 1: level 0 = leaf, level H = root, with
``level_labels`` the K x (H+1) array from ``Hierarchy.level_labels()`` (the padded tree).

- ``level_parents``: per level, the parent (coarser-level class) of every finer-level class
  (Flamingo / HAFeature: summing a finer softmax into its parents, the weight term).
- ``soft_label_targets``: the soft-label target distributions of Bertinetto et al.
- ``hxe_weights`` / ``hxe_tensors``: the hierarchical cross-entropy of Bertinetto et al. as one
  K x n_nodes coefficient matrix and an n_nodes x K subtree-membership matrix (unpadded tree).
- ``flamingo_slices``: which features each Flamingo classifier sees.
- ``HAFEATURE_MARGIN_LEVELS``: the levels that carry HAFeature's margin term (method.md 4).
"""

from __future__ import annotations

import math

import numpy as np

from haframe.hierarchy import Hierarchy

# Levels (0 = leaf, numbered in the padded tree) with the HAFeature margin term, as the
# authors ran it (method.md section 4). Class counts at those levels: CIFAR-100 20, 8, 4, 2;
# FGVC family 70; iNat19 72, 57, 34, 9, 4; tieredImageNet-H 607, 584, 510, 422, 270, 159, 86.
HAFEATURE_MARGIN_LEVELS: dict[str, list[int]] = {
    "cifar100": [1, 2, 3, 4],
    "fgvc_aircraft": [1],
    "inat19": [1, 2, 3, 4, 5],
    "tiered_imagenet": [1, 2, 3, 4, 5, 6, 7],
}

# The one Flamingo split in the authors' code that does not follow ``d // L`` with the
# remainder on the finest slice: the CIFAR-100 WRN-28-8 type-I model
# (util/arch/custom_wideresnet.py, WideResNet_flamingo_l5) hard-codes the slices
# [0:102], [102:204], [204:306], [306:409], [409:512]. Boundaries, coarsest first.
AUTHORS_FLAMINGO_BOUNDARIES: dict[tuple[int, int], tuple[int, ...]] = {
    (512, 5): (0, 102, 204, 306, 409, 512),
}


def level_parents(level_labels: np.ndarray) -> list[np.ndarray | None]:
    """Entry i (i >= 1): int64 array mapping each class of level i-1 to its class at level i.

    Entry 0 is None (the leaf level has no finer level). Classes are the label values of
    ``level_labels`` (0..n_l-1 per column). Raises ValueError if a finer class would have two
    parents (the columns do not describe a tree).
    """
    labels = np.asarray(level_labels, dtype=np.int64)
    if labels.ndim != 2:
        raise ValueError(f"level_labels must be K x (H+1), got shape {labels.shape}")
    parents: list[np.ndarray | None] = [None]
    for level in range(1, labels.shape[1]):
        fine, coarse = labels[:, level - 1], labels[:, level]
        parent = np.full(int(fine.max()) + 1, -1, dtype=np.int64)
        parent[fine] = coarse
        if (parent < 0).any() or not np.array_equal(parent[fine], coarse):
            raise ValueError(f"level {level - 1} -> {level}: a class has no parent or two parents")
        parents.append(parent)
    return parents


def soft_label_targets(D: np.ndarray, beta: float) -> np.ndarray:
    """K x K soft-label targets: row y = softmax over j of (-beta * D[j, y] / max(D)).

    As ``make_all_soft_labels`` in fiveai/making-better-mistakes
    (better_mistakes/model/labels.py), which normalises column y of exp(-beta D / max D) and
    takes that column as the target of class y; here row y holds it. Float64; rows sum to 1.
    """
    D = np.asarray(D, dtype=np.float64)
    if D.ndim != 2 or D.shape[0] != D.shape[1]:
        raise ValueError(f"D must be a square matrix, got shape {D.shape}")
    top = D.max()
    scaled = -beta * D.T / (top if top > 0 else 1.0)  # scaled[y, j] = -beta D[j, y] / max D
    scaled -= scaled.max(axis=1, keepdims=True)
    E = np.exp(scaled)
    return E / E.sum(axis=1, keepdims=True)


def _unpadded_nodes(hierarchy: Hierarchy) -> tuple[list[str], dict[str, int], np.ndarray]:
    """Nodes of the unpadded tree (root first, then first appearance), index map, depths."""
    names: list[str] = []
    index: dict[str, int] = {}
    depth: list[int] = []
    for path in hierarchy.paths:
        for d, name in enumerate(path):
            if name not in index:
                index[name] = len(names)
                names.append(name)
                depth.append(d)
    return names, index, np.asarray(depth, dtype=np.int64)


def hxe_weights(hierarchy: Hierarchy, alpha: float, normalize: bool = True) -> tuple[list[str], np.ndarray]:
    """Node names and edge weights w_C = exp(-alpha * depth(C)) of the unpadded tree.

    The weight of node C is the weight of the edge parent(C) -> C (the root's weight is
    never used by the loss). As ``get_exponential_weighting`` in fiveai/making-better-mistakes
    (better_mistakes/trees.py, used with normalize=True by scripts/start_training.py): the
    normalising total is the sum of exp(-alpha * depth) over EVERY position of the tree, the
    root (weight 1) and the leaves included, so all node weights, root included, sum to 1.
    """
    names, _, depth = _unpadded_nodes(hierarchy)
    w = np.exp(-alpha * depth.astype(np.float64))
    if normalize:
        w = w / math.fsum(w.tolist())
    return names, w


def hxe_tensors(hierarchy: Hierarchy, alpha: float, normalize: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(hxe_matrix K x n_nodes, membership n_nodes x K) for ``haframe.losses.hxe_loss``.

    membership[n, k] = 1 if leaf k lies in the subtree of node n (unpadded tree, the root is
    node 0). With P = softmax(z) @ membership.T, the HXE of class y is
    -sum over the edges parent -> C of y's root-to-leaf path of w_C log(P_C / P_parent)
    = -(hxe_matrix[y] * log P).sum(), hxe_matrix[y] holding +w_C at C and -w_C at parent(C)
    summed over the path (so every row sums to 0). Weights as ``hxe_weights``.
    """
    names, index, _ = _unpadded_nodes(hierarchy)
    _, w = hxe_weights(hierarchy, alpha, normalize)
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


def flamingo_slices(d: int, n_levels: int) -> list[tuple[int, int]]:
    """Per Flamingo classifier, FINEST FIRST, the (start, end) of the features it sees.

    With s = d // L the slice boundaries, coarsest first, are 0, s, 2s, ..., (L-1)s, d: the
    coarsest classifier sees [0:d], the next [s:d], ..., the finest [(L-1)s:d] (it gets the
    remainder d - (L-1)s). Classifier inputs coarsest to finest: d, d-s, ..., d-(L-1)s. The
    classifier whose view starts at b_c trains its own slice [b_c:b_{c+1}] and sees the finer
    slices detached; in finest-first order, level i's own slice is [start_i : start_{i-1}]
    (level 0: [start_0 : d]). This is the rule of every Flamingo model in the authors' code
    (ltong1130ztr/HAFrame util/arch/custom_resnet.py, custom_wideresnet.py) except the CIFAR
    WRN type-I one, whose hand-written slices are kept in ``AUTHORS_FLAMINGO_BOUNDARIES``
    (d = 512, L = 5: 102/102/102/103/103, inputs 512/410/308/206/103); no single arithmetic
    rule reproduces both it and the others (see the tests).
    """
    if n_levels < 1 or d < n_levels:
        raise ValueError(f"need 1 <= n_levels <= d, got d={d}, n_levels={n_levels}")
    boundaries = AUTHORS_FLAMINGO_BOUNDARIES.get((d, n_levels))
    if boundaries is None:
        s = d // n_levels
        boundaries = tuple(i * s for i in range(n_levels)) + (d,)
    return [(boundaries[c], d) for c in reversed(range(n_levels))]


def flamingo_own_slices(d: int, n_levels: int) -> list[tuple[int, int]]:
    """Per Flamingo classifier, FINEST FIRST, the (start, end) of the slice it TRAINS.

    Level i sees ``flamingo_slices(d, L)[i]`` = [start_i : d]; of that, [start_i : end_i] is its
    own slice (gradients flow) and [end_i : d] holds the finer levels' slices, detached:
    end_0 = d, end_i = start_{i-1}.
    """
    starts = [start for start, _ in flamingo_slices(d, n_levels)]
    return [(start, end) for start, end in zip(starts, [d] + starts[:-1])]
