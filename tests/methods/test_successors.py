"""The successors (HiE, BiLT, Hier-COS) and their metrics (HOPS, per-level and full-path
accuracy, calibration error).

Three kinds of check: each loss equals a plain evaluation of its formula written here with
loops over samples, classes, levels and tree nodes (value AND float64 gradient, on a small
unbalanced tree); hand-made cases whose answer is known; and golden values computed once by
running the authors' own functions on the seeded inputs of tests/successors_inputs.py (the
upstream commits are named beside each value; the authors' code is never part of this
repository).
"""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import successors_inputs as inputs
import torch
import torch.nn.functional as F
from conftest import stage_assets, tiny_config
from reference_files import reference_file

from haframe.data.kinds.synthetic import SyntheticSpec, generate, planted_hierarchy
from haframe.data.prepared import write_prepared
from haframe.evaluate import evaluate_run
from haframe.hierarchy import Hierarchy
from haframe.methods.bilt import BiLTClassifier, bilt_loss, corrected_logits, level_costs
from haframe.methods.hie import RULE as HIE
from haframe.methods.hie import hie_combine
from haframe.methods.hiercos import (
    HierCOSClassifier,
    breadth_first_nodes,
    depth_blocks,
    hiercos_loss,
    orthonormal_classifier,
    subspace_structure,
)
from haframe.metrics import expected_calibration_error, hiercos_level_accuracies, hops, level_accuracies
from haframe.parsers import read_hierarchy
from haframe.study import Study
from haframe.train import train_run

SMALL = inputs.small_tree()

# ---------------------------------------------------------------------------------- goldens
# Computed by running, on CPU, float64 unless stated:
BILT_COMMIT = "cdf6481613eaaa6e4135e30bceccd5cf157bc882"  # ZhiguangLuu/BiLT, util/arch/custom_resnet.py
# ResNet50_ours_l7_norm (train mode, its BN layers at their initial values) on bilt_inputs(0)
BILT_GOLDEN = {
    "loss": 11.879324709239096,
    "corrected_sum": -597.0989928725799,
    "finest_weight_grad_sum": -0.7265258947830033,
    "learned_0_grad_sum": -0.3636030338993055,
}
HIERCOS_COMMIT = "122b01dff393d3b562ad2daac494496fda65131c"  # Depanshu-Sani/Hier-COS, util/hiercos_construction.py
# get_hiercos_parameters(..., only_fine_labels=False) on SMALL_PATHS, HierCOS_Loss on
# hiercos_inputs(0); their projections are float32, hence the tolerance
HIERCOS_GOLDEN = {
    "loss": 4.316199779510498,
    "scores_sum": 288.017333984375,
    "x_grad_sum": 0.34493181109428406,
    "x_grad_abs_sum": 3.5188302993774414,
}
# HierCOS_Loss(..., log_level_wise_performance=True) on hiercos_level_inputs(0) (one batch, so its
# per-batch fractions are the sample fractions): its ``la`` per depth, 1 first, and ``fpa``, float32
HIERCOS_LEVELS_GOLDEN = {
    "hiercos_depth1_accuracy": 82.4999988079071,
    "hiercos_depth2_accuracy": 71.42857313156128,
    "hiercos_depth3_accuracy": 80.7692289352417,
    "hiercos_depth4_accuracy": 81.81818127632141,
    "hiercos_full_path_accuracy": 55.0000011920929,
}
HIERCOS_NODE_ORDER = ["A", "B", "c", "D", "A1", "a2", "b0", "B1", "D1", "a0", "a1", "b1", "b2", "D2", "d0", "d1"]
# Same commit, "Code for Analysis" notebook (its HOPS cells) on scores_and_labels(0); its
# HOPS@1 is its own branch (`if k == 1`: 1 where the top prediction has rank 0), top-1 accuracy
HOPS_GOLDEN = {"hops": 0.20469142593158826, "hops@5": 0.25254871708580146, "hops@1": 0.15}
HIE_COMMIT = "b62513f0b8e2cb6d8e32964b2d43507d3cab1453"  # kanji95/Hierarchical-Ensembles, util/misc.py, util/helper.py
# post_hoc_adjustment + F.normalize(p=1) on softmax(scores), softmax(coarse); guo_ECE(bins=15)
HIE_GOLDEN = {
    "combined_sum_of_squares": 18.172192016435396,
    "combined_first_row": [
        0.0006357043630937558,
        0.03060918772483809,
        0.0028831750177389344,
        0.644784171807685,
        0.0014196449336344307,
        0.0006487959245936428,
        0.22597284758032715,
        0.06534841851705066,
        0.02769805413103829,
    ],
}
ECE_GOLDEN = {"softmax_scores": 0.42062657975061807, "hie_combined": 0.4561848991518296}  # fractions


def bilt_model(levels: np.ndarray, dim: int, params: dict) -> BiLTClassifier:
    sizes = [int(levels[:, h].max()) + 1 for h in range(levels.shape[1] - 1)]
    return BiLTClassifier(
        dim, sizes, torch.from_numpy(levels[:, :-1]), level_costs(levels), torch.nn.ELU, params
    ).double()


def test_bilt_equals_the_authors_model():
    tree, data = inputs.deep_tree(), inputs.bilt_inputs(0)
    model = bilt_model(tree.level_labels(), data["features"].shape[1], inputs.BILT_HYPERPARAMETERS)
    model.load_state_dict({**model.state_dict(), **data["params"]})
    model.train()
    outputs = model(data["features"])
    loss = model.loss(outputs, data["features"], data["labels"])
    loss.backward()
    assert loss.item() == pytest.approx(BILT_GOLDEN["loss"], rel=1e-12)
    assert model.class_scores(outputs).sum().item() == pytest.approx(BILT_GOLDEN["corrected_sum"], rel=1e-12)
    assert float(model.finest.weight.grad.sum()) == pytest.approx(BILT_GOLDEN["finest_weight_grad_sum"], rel=1e-10)
    assert float(model.learned[0].grad.sum()) == pytest.approx(BILT_GOLDEN["learned_0_grad_sum"], rel=1e-10)


def test_hiercos_equals_the_authors_loss_and_scores():
    assert breadth_first_nodes(SMALL)[0] == HIERCOS_NODE_ORDER
    data = inputs.hiercos_inputs(0)
    model = HierCOSClassifier(
        torch.eye(16, dtype=torch.float64), subspace_structure(SMALL), inputs.HIERCOS_ALPHA
    ).double()
    x = data["x"].clone().requires_grad_(True)  # the authors' basis is the identity: x is the rotated output
    loss = model.loss(x, x, data["labels"])
    loss.backward()
    assert loss.item() == pytest.approx(HIERCOS_GOLDEN["loss"], rel=1e-6)
    assert model.class_scores(x).sum().item() == pytest.approx(HIERCOS_GOLDEN["scores_sum"], rel=1e-6)
    assert float(x.grad.sum()) == pytest.approx(HIERCOS_GOLDEN["x_grad_sum"], rel=1e-5)
    assert float(x.grad.abs().sum()) == pytest.approx(HIERCOS_GOLDEN["x_grad_abs_sum"], rel=1e-6)


def test_hiercos_level_and_full_path_accuracy_equal_the_authors():
    data = inputs.hiercos_level_inputs(0)
    model = HierCOSClassifier(torch.eye(16, dtype=torch.float64), subspace_structure(SMALL), 0.1).double()
    hits = model.level_hits(data["x"], data["labels"]).numpy()
    assert hiercos_level_accuracies(hits) == pytest.approx(HIERCOS_LEVELS_GOLDEN, rel=1e-6)


def test_hops_equals_the_authors_notebook():
    data = inputs.scores_and_labels(0)
    ranking = np.argsort(-data["scores"].numpy(), axis=1)
    result = hops(ranking, data["labels"].numpy(), SMALL.distance_matrix(), ks=(None, 5, 1))
    assert result == pytest.approx(HOPS_GOLDEN, rel=1e-12)


def test_hie_and_ece_equal_the_authors_functions():
    data = inputs.scores_and_labels(0)
    fine, coarse = F.softmax(data["scores"], dim=1).numpy(), F.softmax(data["coarse"], dim=1).numpy()
    combined, _ = HIE.apply(fine, data["scores"].numpy(), SimpleNamespace(hierarchy=SMALL), coarse)
    assert float((combined**2).sum()) == pytest.approx(HIE_GOLDEN["combined_sum_of_squares"], rel=1e-12)
    np.testing.assert_allclose(combined[0], HIE_GOLDEN["combined_first_row"], rtol=1e-12)
    labels = data["labels"].numpy()
    assert expected_calibration_error(fine, fine.argmax(1), labels) == pytest.approx(
        100 * ECE_GOLDEN["softmax_scores"], rel=1e-12
    )
    assert expected_calibration_error(combined, combined.argmax(1), labels) == pytest.approx(
        100 * ECE_GOLDEN["hie_combined"], rel=1e-12
    )


# -------------------------------------------------------------------------- loop references
def ancestors(levels: np.ndarray, level: int) -> dict[int, list[int]]:
    """Each level-``level`` node's labels from that level up to the root (padded tree)."""
    return {int(levels[k, level]): [int(v) for v in levels[k, level:]] for k in range(len(levels))}


def loop_level_costs(levels: np.ndarray) -> list[np.ndarray]:
    costs = []
    for level in range(levels.shape[1] - 1):
        above = ancestors(levels, level)
        C = np.zeros((len(above), len(above)), dtype=np.int64)
        for i in above:
            for j in above:
                steps = 0
                while above[i][steps] != above[j][steps]:
                    steps += 1
                C[i, j] = steps
        costs.append(C)
    return costs


@pytest.mark.parametrize("tree", [SMALL, inputs.deep_tree()], ids=["small", "deep"])
def test_bilt_cost_matrices_count_the_levels_up_to_the_common_ancestor(tree):
    for ours, loop in zip(level_costs(tree.level_labels()), loop_level_costs(tree.level_labels()), strict=True):
        assert np.array_equal(ours, loop)


def loop_bilt_loss(base, learned, costs, level_targets, *, beta, level_decay, smoothing, sharpness):
    """The module docstring's formula, one sample, level and class at a time (the stop-gradients
    where the formula puts them)."""
    total = 0.0
    batch = base[0].shape[0]
    for h, (z, A, C) in enumerate(zip(base, learned, costs)):
        K = z.shape[1]

        def normalised(M):
            rows = []
            for i in range(K):
                norm = torch.sqrt(sum(M[i, j] ** 2 for j in range(K) if j != i))
                rows.append([M[i, j] / norm if j != i else M[i, j] * 0.0 for j in range(K)])
            return rows

        A_tilde, A_tilde_fixed = normalised(A), normalised(A.detach())
        for n in range(batch):
            y = int(level_targets[n, h])
            exp_z = [torch.exp(z[n, j]) for j in range(K)]
            p = [e / sum(exp_z) for e in exp_z]
            z_corrected = [
                beta * sum(p[j].detach() * A_tilde[k][j] for j in range(K)) - sum(p[j] * C[k, j] for j in range(K))
                for k in range(K)
            ]
            log_q = [zk - torch.logsumexp(torch.stack(z_corrected), 0) for zk in z_corrected]
            soft_logits = [-sharpness * (C[y, k] - beta * A_tilde_fixed[y][k]) for k in range(K)]
            soft = [torch.exp(s - torch.logsumexp(torch.stack(soft_logits), 0)) for s in soft_logits]
            smoothed = (1 - smoothing) * -log_q[y] + smoothing * sum(soft[k] * -log_q[k] for k in range(K))
            cross_entropy = -torch.log(p[y])
            total = total + math.exp(-level_decay * h) * (cross_entropy + smoothed) / batch
    return total


@pytest.mark.parametrize("seed", [0, 1])
def test_bilt_loss_equals_a_loop_over_its_formula(seed):
    levels = SMALL.level_labels()  # leaves at depths 1..4, padded to height 4
    sizes = [int(levels[:, h].max()) + 1 for h in range(levels.shape[1] - 1)]
    g = inputs.generator(seed)
    targets = torch.cat([torch.arange(SMALL.num_classes), torch.randint(0, SMALL.num_classes, (3,), generator=g)])
    base = [(2 * torch.randn(len(targets), n, generator=g, dtype=torch.float64)).requires_grad_(True) for n in sizes]
    learned = [
        (1.0 / n + 0.2 * torch.randn(n, n, generator=g, dtype=torch.float64)).requires_grad_(True) for n in sizes
    ]
    costs = [torch.from_numpy(c).double() for c in level_costs(levels)]
    hp = {"beta": 0.7, "level_decay": 0.5, "smoothing": 0.3, "sharpness": 1.5}
    level_targets = torch.from_numpy(levels[:, :-1])[targets]
    corrected = [corrected_logits(z, A, C, hp["beta"]) for z, A, C in zip(base, learned, costs)]
    ours = bilt_loss(base, corrected, level_targets, learned, costs, **hp)
    loop = loop_bilt_loss(base, learned, costs, level_targets, **hp)
    assert ours.item() == pytest.approx(loop.item(), rel=1e-12)
    leaves = [*base, *learned]
    for a, b in zip(torch.autograd.grad(ours, leaves), torch.autograd.grad(loop, leaves)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def loop_hiercos_loss(x, targets, hierarchy, alpha):
    names, depths = breadth_first_nodes(hierarchy)
    index = {name: i for i, name in enumerate(names)}
    batch, deepest = x.shape[0], int(depths.max())
    kl = 0.0
    for n in range(batch):
        path = hierarchy.paths[int(targets[n])][1:]
        L = len(path)
        weights = {index[v]: math.exp(2.0 / (L - l + 1)) for l, v in enumerate(path, start=1)}
        total = sum(weights.values())
        log_softmax = x[n].abs() - torch.logsumexp(x[n].abs(), 0)
        kl = kl + sum(w / total * (math.log(w / total) - log_softmax[v]) for v, w in weights.items()) / batch
    auxiliary = 0.0
    for depth in range(1, deepest + 1):
        block = [i for i in range(len(names)) if depths[i] == depth]
        valid, shallow = [], []
        for n in range(batch):
            path = hierarchy.paths[int(targets[n])][1:]
            a = [x[n, i].abs() for i in block]
            if len(path) >= depth:
                norm = torch.sqrt(sum(v * v for v in a))
                node = index[path[depth - 1]]
                valid.append(sum(abs(float(i == node) - v / norm) for i, v in zip(block, a)))
            else:
                shallow.append(sum(a))
        for terms in (valid, shallow):
            if terms:
                auxiliary = auxiliary + sum(terms) / len(terms)
    return kl + alpha * auxiliary


def float64_hiercos_loss(x, targets, hierarchy, alpha):
    """``hiercos_loss`` with its targets in float64 (the classifier keeps them in float32)."""
    structure = subspace_structure(hierarchy)
    return hiercos_loss(
        x,
        targets,
        kl_targets=torch.from_numpy(structure["targets"]),
        level_labels=torch.from_numpy(structure["level_labels"]),
        blocks=depth_blocks(structure["depths"]),
        alpha=alpha,
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_hiercos_loss_equals_a_loop_over_its_formula(seed):
    data = inputs.hiercos_inputs(seed)
    x = data["x"].clone().requires_grad_(True)
    ours, loop = float64_hiercos_loss(x, data["labels"], SMALL, 0.3), loop_hiercos_loss(x, data["labels"], SMALL, 0.3)
    assert ours.item() == pytest.approx(loop.item(), rel=1e-12)
    torch.testing.assert_close(torch.autograd.grad(ours, x)[0], torch.autograd.grad(loop, x)[0], rtol=1e-10, atol=1e-12)


def test_hiercos_keeps_a_level_whose_labels_are_all_zero():
    """The authors' ``level_labels > 0`` gate drops depth 4 for a batch of d0 only (its index
    in the block is 0); the loss here keeps it."""
    targets = torch.tensor([SMALL.classes.index("d0")] * 3)
    x = torch.randn(3, 16, generator=inputs.generator(3), dtype=torch.float64)
    assert float(float64_hiercos_loss(x, targets, SMALL, 1.0)) == pytest.approx(
        float(loop_hiercos_loss(x, targets, SMALL, 1.0)), rel=1e-12
    )


def test_hiercos_scores_are_the_norms_of_the_projections_onto_the_path_subspaces():
    names, _ = breadth_first_nodes(SMALL)
    Q = torch.from_numpy(orthonormal_classifier(16, seed=4))
    model = HierCOSClassifier(Q, subspace_structure(SMALL), 0.1).double()
    h = torch.randn(5, 16, generator=inputs.generator(5), dtype=torch.float64)
    scores = model.class_scores(model(h))
    for k, path in enumerate(SMALL.paths):
        # the authors' dense projector: the sum of e_v e_v^T over the path's nodes, in the rotated space
        P = sum(torch.outer(Q[names.index(v)], Q[names.index(v)]) for v in path[1:])
        torch.testing.assert_close(scores[:, k], (h @ P).norm(dim=1), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "dataset, order, D",
    [
        ("cifar100", "index_suffix", 134),
        ("fgvc_aircraft", "sorted", 200),
        ("inat19", "sorted", 1189),
        ("tiered_imagenet", "sorted", 842),
    ],
)
def test_hiercos_gives_one_orthonormal_direction_per_non_root_node_of_the_reference_trees(dataset, order, D):
    tree = read_hierarchy(reference_file(f"hierarchies/{dataset}/tree.pkl"), "nltk_tree", order)
    names, depths = breadth_first_nodes(tree)
    structure = subspace_structure(tree)
    assert len(names) == len(set(names)) == D and structure["paths"].shape == (tree.num_classes, D)
    assert np.all(np.diff(depths) >= 0)  # each depth one contiguous block, shallowest first
    for k, path in enumerate(tree.paths):  # a path holds its own nodes, one per depth, nothing else
        on_path = np.flatnonzero(structure["paths"][k])
        assert sorted(names[i] for i in on_path) == sorted(path[1:])
        assert list(depths[on_path]) == list(range(1, len(path)))
        t = structure["targets"][k]
        assert t.sum() == pytest.approx(1.0) and np.all(np.diff(t[on_path]) > 0)  # the leaf weighs the most
    labels = structure["level_labels"]
    shallow = np.array([len(p) - 1 for p in tree.paths]) < depths.max()
    assert (dataset == "tiered_imagenet") == shallow.any() and np.all(labels[shallow, -1] == -100)
    Q = orthonormal_classifier(D, seed=0)
    np.testing.assert_allclose(Q @ Q.T, np.eye(D), atol=1e-10)
    assert np.array_equal(Q, orthonormal_classifier(D, seed=0)) and not np.array_equal(
        Q, orthonormal_classifier(D, seed=1)
    )


# ----------------------------------------------------------------------------------- HiE
def test_hie_is_the_renormalised_product_and_ignores_the_coarse_logit_shift():
    data = inputs.scores_and_labels(1)
    fine = F.softmax(data["scores"], dim=1).numpy()
    _, parent = SMALL.parents()
    coarse_logits = data["coarse"].numpy()
    combined, log_combined = HIE.apply(
        fine, data["scores"].numpy(), SimpleNamespace(hierarchy=SMALL), F.softmax(data["coarse"], dim=1).numpy()
    )
    expected = np.empty_like(fine)
    for n in range(len(fine)):
        product = [fine[n, k] * math.exp(coarse_logits[n, parent[k]]) for k in range(SMALL.num_classes)]
        expected[n] = np.array(product) / sum(product)
    np.testing.assert_allclose(combined, expected, rtol=1e-12)
    np.testing.assert_allclose(np.exp(log_combined), combined, rtol=1e-12)
    shift = 100.0 * np.arange(len(fine))[:, None] - 7.0
    log_coarse = coarse_logits - np.logaddexp.reduce(coarse_logits, axis=1, keepdims=True)
    np.testing.assert_allclose(
        hie_combine(np.log(fine), log_coarse + shift, parent), log_combined, rtol=1e-12, atol=1e-12
    )


def test_hie_keeps_an_underflowed_probability_at_zero():
    fine = np.array([[0.0, 0.5, 0.5, 0, 0, 0, 0, 0, 0]])
    coarse = np.array([[0.0, 1.0, 0, 0, 0, 0]])
    combined, _ = HIE.apply(fine, np.log(fine + 1e-300), SimpleNamespace(hierarchy=SMALL), coarse)
    assert np.isfinite(combined).all() and combined[0, 2] == 1.0 and combined.sum() == 1.0  # a1 below A1: 0 there


# ----------------------------------------------------------------------------------- HOPS
def ideal_ranking(D: np.ndarray, targets: np.ndarray) -> np.ndarray:
    return np.argsort(D[targets], axis=1, kind="stable")


@pytest.mark.parametrize("tree", [SMALL, inputs.deep_tree()], ids=["small", "deep"])
def test_hops_is_one_for_the_ideal_ranking_and_zero_for_the_reversed(tree):
    D = tree.distance_matrix()
    targets = np.arange(tree.num_classes).repeat(2)
    ideal = ideal_ranking(D, targets)
    assert hops(ideal, targets, D, ks=(None, 5, 1)) == {"hops": 1.0, "hops@5": 1.0, "hops@1": 1.0}
    # (a reversed top 5 can still hold nodes of the ideal top 5: HOPS@5 need not be 0)
    assert hops(ideal[:, ::-1], targets, D, ks=(None, 1)) == {"hops": 0.0, "hops@1": 0.0}


def test_hops_at_1_is_top1_accuracy_and_cutoffs_above_k_are_left_out():
    data = inputs.scores_and_labels(2)
    ranking = np.argsort(-data["scores"].numpy(), axis=1)
    labels = data["labels"].numpy()
    result = hops(ranking, labels, SMALL.distance_matrix(), ks=(1, 20))
    assert result == {"hops@1": pytest.approx((ranking[:, 0] == labels).mean(), abs=1e-15)}


def test_hops_on_a_hand_made_case():
    """root -> {X -> {a, b}, c}, padded: d(a, b) = 1, d(a, c) = 2. For y = a the ideal order is
    a, b, c (ranks 0, 1, 2, weights 1, 1/2, 1/4). Predicting b, a, c: sum w |e - o| = 1 + 1/2;
    the ideal reversed: 2 + 0 + 2/4; HOPS = 1 - 1.5 / 2.5 = 0.4."""
    D = Hierarchy.from_paths([["r", "X", "a"], ["r", "X", "b"], ["r", "c"]]).distance_matrix()
    assert hops(np.array([[1, 0, 2]]), np.array([0]), D, ks=(None,)) == {"hops": pytest.approx(0.4)}


# --------------------------------------------------------------------- levels, calibration
def test_level_accuracies_on_a_hand_made_case():
    """r -> A -> {a0, a1}, r -> B -> {b0, b1}, r -> c (c padded below itself)."""
    tree = Hierarchy.from_paths([["r", "A", "a0"], ["r", "A", "a1"], ["r", "B", "b0"], ["r", "B", "b1"], ["r", "c"]])
    probabilities = np.array(
        [
            [0.30, 0.00, 0.35, 0.35, 0.00],  # a0: leaf b0 wrong, A 0.30 < B 0.70 wrong
            [0.10, 0.45, 0.44, 0.01, 0.00],  # a0: leaf a1 wrong, A 0.55 > B 0.45 right
            [0.00, 0.00, 0.20, 0.80, 0.00],  # b1: right, right
            [0.30, 0.30, 0.00, 0.00, 0.40],  # c: leaf right, A 0.60 > c 0.40 wrong
        ]
    )
    targets = np.array([0, 0, 3, 4])
    result = level_accuracies(probabilities, probabilities.argmax(1), targets, tree.level_labels())
    assert result == pytest.approx({"level0_accuracy": 50.0, "level1_accuracy": 50.0, "full_path_accuracy": 25.0})


def test_hiercos_levels_score_the_subspace_of_a_node_its_ancestors_and_descendants():
    """On SMALL (A, B, c, D at depth 1): a sample of leaf a0 whose x lies on b1's path is wrong at
    every depth; x on a0's leaf direction alone is right at every depth (A's subspace holds a0); a
    sample of c is scored at depth 1 only, and x on D2 alone predicts D there."""
    names, _ = breadth_first_nodes(SMALL)
    model = HierCOSClassifier(torch.eye(16, dtype=torch.float64), subspace_structure(SMALL), 0.1).double()
    x = torch.zeros(4, 16, dtype=torch.float64)
    x[0, [names.index(v) for v in ("B", "B1", "b1")]] = 1.0
    x[1, names.index("a0")] = 1.0
    x[2, names.index("c")] = 1.0
    x[3, names.index("D2")] = 1.0
    leaf = [path[-1] for path in SMALL.paths]
    labels = torch.tensor([leaf.index("a0"), leaf.index("a0"), leaf.index("c"), leaf.index("c")])
    hits = model.level_hits(x, labels).tolist()
    assert hits == [[0, 0, 0, -1], [1, 1, 1, -1], [1, -1, -1, -1], [0, -1, -1, -1]]
    assert hiercos_level_accuracies(np.array(hits, dtype=np.int8)) == pytest.approx(
        {
            "hiercos_depth1_accuracy": 50.0,
            "hiercos_depth2_accuracy": 50.0,
            "hiercos_depth3_accuracy": 50.0,
            "hiercos_full_path_accuracy": 50.0,
        }
    )


def test_expected_calibration_error_on_a_hand_made_case():
    """Bins of width 1/15: two samples at confidence 0.95 (one right) and two at 0.55 (both
    right): (|1 - 1.9| + |2 - 1.1|) / 4 = 45%."""
    probabilities = np.array([[0.95, 0.05], [0.95, 0.05], [0.45, 0.55], [0.45, 0.55]])
    targets = np.array([0, 1, 1, 1])
    assert expected_calibration_error(probabilities, probabilities.argmax(1), targets) == pytest.approx(45.0)


def test_a_hiercos_run_reports_its_authors_level_accuracies_beside_the_projects(tmp_path):
    """Evaluation scores a Hier-COS run by both definitions (and a CE run by the project's only)."""
    (tmp_path / "assets").mkdir()
    assets = stage_assets(tmp_path / "assets", planted_hierarchy((3, 3)), gamma=2.0)
    config = tiny_config(seeds=[0])
    config["variants"]["hiercos"] = {"method": "hiercos", "head": "II"}
    _, splits = generate(SyntheticSpec.from_options(config["datasets"]["synthetic"]["synthetic"]), assets.hierarchy)
    write_prepared(tmp_path / "data", list(assets.hierarchy.classes), splits, transform="none")
    study = Study(config)
    scored = {}
    for variant in ("ce_II", "hiercos"):
        out = tmp_path / variant
        run = study.run("synthetic", variant, 0)
        files = {name: out / f"{name}.out" for name in ("checkpoint", "history", "nc", "config")}
        train_run(run, assets, data=tmp_path / "data/meta.json", resume_dir=out / "resume", log=lambda m: None, **files)
        scored[variant] = evaluate_run(
            checkpoint=files["checkpoint"],
            assets=assets,
            data=tmp_path / "data/meta.json",
            metrics_file=out / "metrics.json",
            predictions_file=out / "predictions.npz",
        )
    theirs = {"hiercos_depth1_accuracy", "hiercos_depth2_accuracy", "hiercos_full_path_accuracy"}
    assert theirs <= set(scored["hiercos"]) and not theirs & set(scored["ce_II"])
    assert not theirs & set(scored["ce_II"]["crm"])
    hiercos = scored["hiercos"]
    assert all(0.0 <= hiercos[key] <= 100.0 for key in theirs)
    assert hiercos["hiercos_full_path_accuracy"] <= min(
        hiercos["hiercos_depth1_accuracy"], hiercos["hiercos_depth2_accuracy"]
    )
    assert {"level1_accuracy", "full_path_accuracy"} <= set(hiercos)  # the project's, for every method
