"""Evaluation metrics at iNat19's test size (40,737 images x 1,010 classes, a tree of height 7
with iNat19's per-level node counts): README "The method" 6's metrics and CRM, against a
straightforward implementation of the same definitions in the same process (a full stable
argsort per ranking, CRM as the float64 K x K product p @ D: the project's previous code), whose
values they must equal; the successors' HOPS, per-level accuracy and ECE timed separately; and
CRM's risk on a height-7 tree of 1,010 leaves with more internal nodes than leaves, where the
two thin products lose to p @ D and CRM takes the square product. Every ratio printed is of
two timings of this one process. Scores imitate a trained model: a peak on the true class (65 %), a sibling (20 %) or
any class (15 %), plus noise, so that CRM's near-ties between siblings are as common as in a
real run.

    .venv/bin/python bench/metrics.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from haframe.assets import RunAssets
from haframe.evaluate import leaf_probabilities
from haframe.hierarchy import Hierarchy
from haframe.methods.crm import RULE as CRM
from haframe.methods.crm import expected_distance, internal_nodes
from haframe.metrics import expected_calibration_error, hops, level_accuracies, metrics, rank_by_score

INAT19_NODES_PER_LEVEL = (3, 4, 9, 34, 57, 72, 1010)  # below the root, leaves last
MANY_INTERNAL_NODES_PER_LEVEL = (40, 120, 250, 400, 600, 800, 1010)  # 2,210 internal nodes
N_TEST = 40_737
TOP_K = 20


def shaped_tree(rng: np.random.Generator, nodes_per_level: tuple[int, ...] = INAT19_NODES_PER_LEVEL) -> Hierarchy:
    """A random tree with these node counts per level below the root (leaves last)."""
    parents: dict[str, str] = {}
    above = ["root"]
    for depth, count in enumerate(nodes_per_level, start=1):
        nodes = [f"d{depth}_{i}" for i in range(count)]
        # every node above gets a child, the rest pick a parent at random
        chosen = np.concatenate([np.arange(len(above)), rng.integers(0, len(above), count - len(above))])
        rng.shuffle(chosen)
        parents.update({node: above[i] for node, i in zip(nodes, chosen)})
        above = nodes
    paths = []
    for leaf in above:
        path = [leaf]
        while path[-1] != "root":
            path.append(parents[path[-1]])
        paths.append(path[::-1])
    return Hierarchy.from_paths(paths)


def trained_like_scores(levels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    K = levels.shape[0]
    targets = rng.integers(0, K, N_TEST)
    peak = targets.copy()
    draw = rng.random(N_TEST)
    sibling = draw < 0.20
    parent = levels[:, 1]
    siblings = [np.flatnonzero(parent == parent[k]) for k in range(K)]
    peak[sibling] = [rng.choice(siblings[k]) for k in targets[sibling]]
    anywhere = (draw >= 0.20) & (draw < 0.35)
    peak[anywhere] = rng.integers(0, K, int(anywhere.sum()))
    scores = (1.5 * rng.standard_normal((N_TEST, K))).astype(np.float32)
    scores[np.arange(N_TEST), peak] += 7.0
    return scores, targets


def previous_section6_and_crm(scores, targets, D) -> tuple[dict, dict, np.ndarray]:
    """The implementation before bench/README.md's 2026-12-01 entry."""
    ranked = np.argsort(-scores, axis=1, kind="stable")[:, :TOP_K]
    risk = leaf_probabilities(scores) @ D.astype(np.float64)
    crm_ranked = np.argsort(risk, axis=1, kind="stable")[:, :TOP_K]
    return metrics(ranked, targets, D), metrics(crm_ranked, targets, D), crm_ranked


def section6_and_crm(scores, targets, assets: RunAssets) -> tuple[dict, dict, np.ndarray]:
    D = assets.distances
    base = metrics(rank_by_score(scores, TOP_K), targets, D)
    _, crm_scores = CRM.apply(leaf_probabilities(scores), scores, assets, None)  # as evaluation runs it
    crm_ranked = rank_by_score(crm_scores, TOP_K)
    return base, metrics(crm_ranked, targets, D), crm_ranked


def timed(function, repeats: int):
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    tree = shaped_tree(rng)
    assets = RunAssets(hierarchy=tree, distances=tree.distance_matrix(), levels=tree.level_labels(), frames={})
    scores, targets = trained_like_scores(assets.levels, rng)
    D = assets.distances
    print(f"N = {N_TEST}, K = {assets.num_classes}, height {assets.height}, torch threads {torch.get_num_threads()}")

    old_time, old = timed(lambda: previous_section6_and_crm(scores, targets, D), args.repeats)
    new_time, new = timed(lambda: section6_and_crm(scores, targets, assets), args.repeats)
    assert old[0] == new[0] and old[1] == new[1], "metrics differ from the previous implementation"
    assert np.array_equal(old[2], new[2]), "CRM rankings differ from the previous implementation"
    print(
        f"section 6 metrics + CRM: {new_time:.2f} s (previous {old_time:.2f} s, {old_time / new_time:.1f}x); "
        f"values and CRM top-{TOP_K} identical"
    )
    print(f"  base: {new[0]}")
    print(f"  crm:  {new[1]}")

    probabilities = leaf_probabilities(scores)
    parts = {
        "top-20 by partial selection": lambda: rank_by_score(scores, TOP_K),
        "top-20 by full stable argsort (previous)": lambda: np.argsort(-scores, axis=1, kind="stable")[:, :TOP_K],
        "softmax (float64)": lambda: leaf_probabilities(scores),
        "CRM risk, tree factorisation (float64)": lambda: expected_distance(probabilities, assets.levels),
        "CRM risk, p @ D float64 (previous)": lambda: probabilities @ D.astype(np.float64),
        "CRM risk, p @ D float32 (not used)": lambda: probabilities.astype(np.float32) @ D.astype(np.float32),
    }
    for name, function in parts.items():
        seconds, _ = timed(function, args.repeats)
        print(f"  {name}: {seconds:.3f} s")
    float32_risk = probabilities.astype(np.float32) @ D.astype(np.float32)
    differing = int((rank_by_score(-float32_risk, TOP_K) != new[2]).any(axis=1).sum())
    print(f"  float32 p @ D: CRM top-{TOP_K} differs from float64 in {differing} of {N_TEST} rows (why it is not used)")

    full_time, ranking = timed(lambda: rank_by_score(scores, assets.num_classes), args.repeats)
    hops_time, _ = timed(lambda: hops(ranking, targets, D), args.repeats)
    level_time, _ = timed(lambda: level_accuracies(probabilities, ranking[:, 0], targets, assets.levels), args.repeats)
    ece_time, _ = timed(lambda: expected_calibration_error(probabilities, ranking[:, 0], targets), args.repeats)
    print(
        f"successors' metrics: full ranking {full_time:.2f} s, HOPS {hops_time:.2f} s, "
        f"per-level accuracy {level_time:.2f} s, ECE {ece_time:.3f} s"
    )
    crm_by_shape(rng, probabilities, args.repeats)


def crm_by_shape(rng: np.random.Generator, probabilities: np.ndarray, repeats: int) -> None:
    """CRM's risk on a tree with more internal nodes than leaves: the thin products, p @ D and
    what ``expected_distance`` chooses, timed in this process."""
    tree = shaped_tree(rng, MANY_INTERNAL_NODES_PER_LEVEL)
    levels, D = tree.level_labels(), tree.distance_matrix().astype(np.float64)
    nodes = torch.from_numpy(internal_nodes(levels))
    p = torch.from_numpy(probabilities)
    thin, _ = timed(lambda: ((p @ nodes) @ nodes.T).add_(p), repeats)
    square, _ = timed(lambda: probabilities @ D, repeats)
    chosen, risk = timed(lambda: expected_distance(probabilities, levels), repeats)
    assert np.allclose(risk, probabilities @ D, rtol=0, atol=1e-9)
    print(
        f"CRM risk, {nodes.shape[1]:,} internal nodes over {nodes.shape[0]:,} leaves: thin products {thin:.2f} s, "
        f"p @ D {square:.2f} s ({thin / square:.1f}x faster), expected_distance (chooses by shape) {chosen:.2f} s"
    )


if __name__ == "__main__":
    main()
