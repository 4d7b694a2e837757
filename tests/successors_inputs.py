"""Seeded inputs of the successors' golden-value tests (tests/methods/test_successors.py).

The golden values there were computed once by running the authors' own functions on exactly
these inputs (outside this repository; the authors' code is never committed): this module is
all the two sides share.
"""

from __future__ import annotations

import torch

from haframe.hierarchy import Hierarchy
from haframe.methods.hiercos import subspace_structure

# A small unbalanced tree, classes in depth-first order (leaves at depths 1 to 4).
SMALL_PATHS = [
    ["r", "A", "A1", "a0"],
    ["r", "A", "A1", "a1"],
    ["r", "A", "a2"],
    ["r", "B", "b0"],
    ["r", "B", "B1", "b1"],
    ["r", "B", "B1", "b2"],
    ["r", "c"],
    ["r", "D", "D1", "D2", "d0"],
    ["r", "D", "D1", "D2", "d1"],
]
# Node counts per depth of a balanced tree of height 7 (BiLT's seven-level model), depth 1 first.
DEEP_WIDTHS = (2, 3, 4, 5, 6, 8, 10)


def small_tree() -> Hierarchy:
    return Hierarchy.from_paths(SMALL_PATHS)


def deep_tree() -> Hierarchy:
    """Node i at depth d hangs below node floor(i * n_{d-1} / n_d) at depth d - 1."""
    paths = []
    for leaf in range(DEEP_WIDTHS[-1]):
        path, index = [], leaf
        for depth in range(len(DEEP_WIDTHS), 0, -1):
            path.append(f"n{depth}_{index}" if depth < len(DEEP_WIDTHS) else f"leaf{index}")
            if depth > 1:
                index = index * DEEP_WIDTHS[depth - 2] // DEEP_WIDTHS[depth - 1]
        paths.append(["root", *reversed(path)])
    return Hierarchy.from_paths(paths)


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def bilt_inputs(seed: int, batch: int = 12, dim: int = 6) -> dict:
    """Features, leaf labels and every BiLT parameter, float64, for the deep tree."""
    g = generator(seed)
    sizes = [int(deep_tree().level_labels()[:, level].max()) + 1 for level in range(len(DEEP_WIDTHS))]
    labels = torch.randint(0, sizes[0], (batch,), generator=g)
    labels[: sizes[0]] = torch.arange(sizes[0])[:batch]
    params = {
        "finest.weight": torch.randn(sizes[0], dim, generator=g, dtype=torch.float64),
        "finest.bias": torch.randn(sizes[0], generator=g, dtype=torch.float64),
    }
    for h, (finer, coarser) in enumerate(zip(sizes, sizes[1:])):
        params[f"coarser.{h}.1.weight"] = torch.randn(coarser, finer, generator=g, dtype=torch.float64)
        params[f"coarser.{h}.1.bias"] = torch.randn(coarser, generator=g, dtype=torch.float64)
        params[f"coarser.{h}.4.weight"] = torch.randn(coarser, coarser, generator=g, dtype=torch.float64)
        params[f"coarser.{h}.4.bias"] = torch.randn(coarser, generator=g, dtype=torch.float64)
    for h, n in enumerate(sizes):
        params[f"learned.{h}"] = 1.0 / n + 0.1 * torch.randn(n, n, generator=g, dtype=torch.float64)
    features = 2 * torch.randn(batch, dim, generator=g, dtype=torch.float64)
    return {"features": features, "labels": labels, "params": params, "sizes": sizes}


BILT_HYPERPARAMETERS = {"beta": 0.5, "level_decay": 1.0, "smoothing": 0.5, "sharpness": 1.5}  # BiLT's iNat19 run


def hiercos_inputs(seed: int, batch: int = 14) -> dict:
    """Rotated outputs x (N x D, D = 16 non-root nodes) and leaf labels, every class present."""
    g = generator(seed)
    K = small_tree().num_classes
    labels = torch.cat([torch.arange(K), torch.randint(0, K, (batch - K,), generator=g)])
    return {"x": 1.5 * torch.randn(batch, 16, generator=g, dtype=torch.float64), "labels": labels}


HIERCOS_ALPHA = 0.1


def hiercos_level_inputs(seed: int, batch: int = 40) -> dict:
    """Rotated outputs x near their leaf's path subspace (1.5 on each path node plus unit noise, so
    that the per-depth predictions are neither all right nor all wrong) and leaf labels."""
    g = generator(seed)
    tree = small_tree()
    labels = torch.cat(
        [torch.arange(tree.num_classes), torch.randint(0, tree.num_classes, (batch - tree.num_classes,), generator=g)]
    )
    paths = torch.from_numpy(subspace_structure(tree)["paths"])
    return {
        "x": 1.5 * paths[labels] + torch.randn(batch, paths.shape[1], generator=g, dtype=torch.float64),
        "labels": labels,
    }


def scores_and_labels(seed: int, batch: int = 40, classes: int = 9) -> dict:
    """Continuous scores (no ties) and labels, for HOPS, HiE and the calibration error."""
    g = generator(seed)
    return {
        "scores": 2 * torch.randn(batch, classes, generator=g, dtype=torch.float64),
        "coarse": 2 * torch.randn(batch, 6, generator=g, dtype=torch.float64),  # the small tree's 6 parents
        "labels": torch.randint(0, classes, (batch,), generator=g),
    }
