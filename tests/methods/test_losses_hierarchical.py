"""Hierarchical methods' losses (Flamingo, HAFeature, soft labels, HXE) and their precomputed targets.

Every loss is checked in value AND gradient (float64 autograd) against a plain evaluation of
its formula written here with loops over samples, classes, levels and tree nodes, on random
data and a small unbalanced tree (leaves at depths 1 to 4, a single-child chain r -> C -> C1 -> c9).
References: README, "The method" 1 and 4; the authors' code as cited in the method modules
(haframe/methods/flamingo.py, hafeature.py, soft_labels.py, hxe.py).
"""

import math
import random
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from conftest import REPO
from reference_files import reference_file

from haframe.hierarchy import Hierarchy, level_parents
from haframe.methods.flamingo import flamingo_loss, flamingo_own_slices, flamingo_slices
from haframe.methods.hafeature import hafeature_loss
from haframe.methods.hxe import hxe_loss, hxe_tensors, hxe_weights
from haframe.methods.soft_labels import soft_label_targets, soft_labels_loss

PATHS = [
    ["r", "A", "A1", "c0"],
    ["r", "A", "A1", "c1"],
    ["r", "A", "c2"],
    ["r", "B", "B1", "B2", "c3"],
    ["r", "B", "c4"],
    ["r", "c5"],
    ["r", "B", "B1", "c6"],
    ["r", "A", "A1", "c7"],
    ["r", "B", "B1", "B2", "c8"],
    ["r", "C", "C1", "c9"],
]
TREE = Hierarchy.from_paths(PATHS)
K = TREE.num_classes  # 10
H = TREE.height  # 4
LEVELS = TREE.level_labels()  # K x (H+1)
N_OUT = H  # one classifier per level 0..H-1 (the root level needs none)
SIZES = [int(LEVELS[:, l].max()) + 1 for l in range(H + 1)]  # 10, 9, 6, 4, 1
FEAT = 5
TOL = 1e-10


def gen(seed):
    return torch.Generator().manual_seed(seed)


def leaves(*tensors):
    return [t.detach().clone().requires_grad_(True) for t in tensors]


def grads(value, inputs):
    out = torch.autograd.grad(value, inputs, allow_unused=True)
    return [torch.zeros_like(x) if g is None else g for g, x in zip(out, inputs)]


def assert_same(lib_value, ref_value, inputs_lib, inputs_ref, tol=TOL):
    v_lib, v_ref = float(lib_value.detach()), float(ref_value.detach())
    assert abs(v_lib - v_ref) < tol, (v_lib, v_ref)
    for g_lib, g_ref in zip(grads(lib_value, inputs_lib), grads(ref_value, inputs_ref)):
        assert float((g_lib - g_ref).abs().max()) < tol


# ---------------------------------------------------------------- plain loop references
def loop_softmax(row):
    """softmax of a list of scalar tensors, one class at a time."""
    m = max(float(v.detach()) for v in row)
    e = [torch.exp(v - m) for v in row]
    total = sum(e)
    return [x / total for x in e]


def loop_ce(z, y):
    """mean over samples of -log softmax(z_b)[y_b]."""
    n, k = z.shape
    total = 0.0
    for b in range(n):
        p = loop_softmax([z[b, c] for c in range(k)])
        total = total - torch.log(p[int(y[b])])
    return total / n


def parent_table(level):
    """{class at level-1: class at level}, read off the leaves' level labels one by one."""
    table = {}
    for k in range(K):
        table[int(LEVELS[k, level - 1])] = int(LEVELS[k, level])
    return table


def loop_kl_to_mixture(a, b):
    """sum_c a_c log(a_c / m_c), m_c = clamp((a_c + b_c)/2, 1e-7, 1); 0 log 0 = 0."""
    total = 0.0
    for ac, bc in zip(a, b):
        m = torch.clamp(torch.as_tensor(0.5 * (ac + bc), dtype=torch.float64), 1e-7, 1.0)
        if float(torch.as_tensor(ac).detach()) != 0.0:
            total = total + ac * torch.log(ac / m)
    return total


def hinge(x):
    """max(0, x) for a scalar tensor or a float."""
    return torch.clamp(torch.as_tensor(x, dtype=torch.float64), min=0.0)


def loop_pair_margin(p, labels, rng, rows=256, margin=3.0):
    """The authors' create_dissimilar_pairs + JSDDissimilarLoss, restated with loops."""
    B = len(labels)
    temp = list(zip(labels, range(B)))
    rng.shuffle(temp)
    pairs = []
    for _ in range(B):
        for j in range(B - 1):
            if len(pairs) >= rows:
                break
            if temp[j][0] != temp[j + 1][0]:
                pairs.append((temp[j][1], temp[j + 1][1]))
    C = len(p[0])
    total = 0.0
    for r in range(rows):
        if r < len(pairs):
            a, b = p[pairs[r][0]], p[pairs[r][1]]
        else:
            a = b = [torch.zeros((), dtype=torch.float64)] * C
        ka, kb = loop_kl_to_mixture(a, b), loop_kl_to_mixture(b, a)
        total = total + 0.5 * (hinge(margin - ka) + hinge(margin - kb))
    return total / rows, len(pairs)


def loop_hafeature(z_levels, raw_w, y, margin_levels, rng):
    n = len(y)
    labels = [[int(LEVELS[int(y[b]), l]) for b in range(n)] for l in range(len(z_levels))]
    probs = [[loop_softmax([z[b, c] for c in range(z.shape[1])]) for b in range(n)] for z in z_levels]
    loss = loop_ce(z_levels[0], y)
    for i in range(1, len(z_levels)):
        parent = parent_table(i)
        # JSD(finer softmax summed into parents, coarser softmax), batch mean
        jsd = 0.0
        for b in range(n):
            p_hat = [sum(probs[i - 1][b][f] for f in parent if parent[f] == c) for c in range(SIZES[i])]
            q = probs[i][b]
            jsd = jsd + 0.5 * (loop_kl_to_mixture(p_hat, q) + loop_kl_to_mixture(q, p_hat))
        loss = loss + jsd / n
        # mean cosine of a coarse weight to the normalised sum of its children's normalised weights
        cos_total = 0.0
        for c in range(SIZES[i]):
            w_c = raw_w[i][c] / torch.sqrt(sum(raw_w[i][c, d] ** 2 for d in range(FEAT)))
            s = 0.0
            for f in parent:
                if parent[f] == c:
                    s = s + raw_w[i - 1][f] / torch.sqrt(sum(raw_w[i - 1][f, d] ** 2 for d in range(FEAT)))
            dot = sum(w_c[d] * s[d] for d in range(FEAT))
            norms = torch.sqrt(sum(w_c[d] ** 2 for d in range(FEAT)) * sum(s[d] ** 2 for d in range(FEAT)))
            cos_total = cos_total + dot / norms
        loss = loss - cos_total / SIZES[i]
    filled = []
    for level in margin_levels:
        term, n_filled = loop_pair_margin(probs[level], labels[level], rng)
        loss = loss + term
        filled.append(n_filled)
    return loss, filled


def loop_hxe(z, y, hierarchy, alpha, normalize=True):
    nodes = {}
    for path in hierarchy.paths:
        for depth, name in enumerate(path):
            nodes[name] = depth
    Z = sum(math.exp(-alpha * d) for d in nodes.values()) if normalize else 1.0
    n, k = z.shape
    total = 0.0
    for b in range(n):
        p = loop_softmax([z[b, c] for c in range(k)])

        def prob(node):
            return sum(p[j] for j in range(k) if node in hierarchy.paths[j])

        path = hierarchy.paths[int(y[b])]
        for parent, child in zip(path, path[1:]):
            w = math.exp(-alpha * nodes[child]) / Z
            total = total - w * torch.log(prob(child) / prob(parent))
    return total / n


# ---------------------------------------------------------------- problems
def hafeature_problem(seed, B, classes=None):
    g = gen(seed)
    z = [2 * torch.randn(B, SIZES[l], generator=g, dtype=torch.float64) for l in range(N_OUT)]
    w = [torch.randn(SIZES[l], FEAT, generator=g, dtype=torch.float64) for l in range(N_OUT)]
    pool = torch.arange(K) if classes is None else torch.tensor(classes)
    y = pool[torch.randint(0, len(pool), (B,), generator=g)]
    return z, w, y


def hafeature_context(y, margin_levels, rng):
    return dict(
        level_targets=torch.from_numpy(LEVELS[:, :N_OUT])[y],
        level_parents=[None if p is None else torch.from_numpy(p) for p in level_parents(LEVELS)],
        margin_levels=margin_levels,
        shuffle_rng=rng,
    )


# ---------------------------------------------------------------- Flamingo
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_flamingo_loss_matches_loops(seed):
    z, _, y = hafeature_problem(seed, B=9)
    level_targets = torch.from_numpy(LEVELS)[y]  # includes the root column: ignored
    z_lib, z_ref = leaves(*z), leaves(*z)
    lib = flamingo_loss(z_lib, y, level_targets=level_targets)
    ref = sum(loop_ce(z_ref[l], [LEVELS[int(t), l] for t in y]) for l in range(N_OUT))
    assert_same(lib, ref, z_lib, z_ref)


def test_flamingo_loss_rejects_missing_levels():
    z, _, y = hafeature_problem(0, B=4)
    with pytest.raises(ValueError, match="level_targets"):
        flamingo_loss(z, y, level_targets=torch.from_numpy(LEVELS[:, :2])[y])


# The Flamingo slice widths of README, "The method" 4 (classifier inputs coarsest to finest).
FLAMINGO_EXAMPLES = {
    # type II, d = K
    (100, 5): [100, 80, 60, 40, 20],  # CIFAR-100
    (100, 3): [100, 67, 34],  # FGVC
    (1010, 7): [1010, 866, 722, 578, 434, 290, 146],  # iNat19
    (608, 12): [608 - 50 * i for i in range(12)],  # tiered: 608/558/.../108/58
    # type I, 600-d head
    (600, 3): [600, 400, 200],  # FGVC
    (600, 7): [600, 515, 430, 345, 260, 175, 90],  # iNat19
    (600, 12): [600 - 50 * i for i in range(12)],  # tiered: 600/550/.../50
    # CIFAR WRN-28-8, 512-d
    (512, 5): [512, 410, 308, 206, 103],
}


@pytest.mark.parametrize("d,L", list(FLAMINGO_EXAMPLES))
def test_flamingo_slices_reproduce_every_published_width(d, L):
    slices = flamingo_slices(d, L)
    assert len(slices) == L
    assert all(end == d for _, end in slices)
    inputs_coarsest_first = [end - start for start, end in reversed(slices)]
    assert inputs_coarsest_first == FLAMINGO_EXAMPLES[(d, L)]
    assert slices[-1] == (0, d)  # the coarsest classifier sees everything


def test_flamingo_slices_cifar_wrn_exact_cuts():
    starts = [start for start, _ in reversed(flamingo_slices(512, 5))] + [512]
    own = list(zip(starts, starts[1:]))
    assert own == [(0, 102), (102, 204), (204, 306), (306, 409), (409, 512)]
    assert flamingo_own_slices(512, 5) == own[::-1]  # finest first


@pytest.mark.parametrize("d,L", list(FLAMINGO_EXAMPLES))
def test_flamingo_own_slices_tile_the_feature_finest_last(d, L):
    own = flamingo_own_slices(d, L)
    seen = flamingo_slices(d, L)
    assert own[0] == seen[0] and own[0][1] == d  # the finest trains all it sees
    for i in range(1, L):
        assert own[i][0] == seen[i][0] and own[i][1] == own[i - 1][0]  # then the finer ones, detached
    assert sum(end - start for start, end in own) == d


def test_no_single_arithmetic_rule_fits_all_flamingo_examples():
    """Why flamingo_slices keeps the WRN split as a named exception: floor, round and
    'spread the remainder over the finest slices' each miss at least one published example,
    and 'd // L with the remainder on the finest' misses only the WRN one."""

    def inputs(boundaries, d):
        return [d - b for b in boundaries]

    rules = {
        "floor": lambda d, L: [i * d // L for i in range(L)],
        "round": lambda d, L: [round(i * d / L) for i in range(L)],
        "spread": lambda d, L: [i * (d // L) + max(0, i - (L - d % L)) for i in range(L)],
        "remainder_to_finest": lambda d, L: [i * (d // L) for i in range(L)],
    }
    misses = {
        name: [key for key, want in FLAMINGO_EXAMPLES.items() if inputs(rule(*key), key[0]) != want]
        for name, rule in rules.items()
    }
    assert all(misses[name] for name in ("floor", "round", "spread"))
    assert misses["remainder_to_finest"] == [(512, 5)]


def test_flamingo_slices_reject_impossible_splits():
    with pytest.raises(ValueError):
        flamingo_slices(3, 4)
    with pytest.raises(ValueError):
        flamingo_slices(10, 0)


# ---------------------------------------------------------------- HAFeature
def run_hafeature(seed, B, margin_levels, classes=None):
    z, w, y = hafeature_problem(seed, B, classes)
    z_lib, w_lib, z_ref, w_ref = leaves(*z), leaves(*w), leaves(*z), leaves(*w)
    rng_lib, rng_ref = random.Random(seed), random.Random(seed)
    lib = hafeature_loss(
        z_lib,
        y,
        level_weights=[F.normalize(v, dim=1) for v in w_lib],
        **hafeature_context(y, margin_levels, rng_lib),
    )
    ref, filled = loop_hafeature(z_ref, w_ref, y, margin_levels, rng_ref)
    assert_same(lib, ref, z_lib + w_lib, z_ref + w_ref)
    assert rng_lib.getstate() == rng_ref.getstate()  # one shuffle per margin level, same draws
    return filled


@pytest.mark.parametrize("seed", [0, 1])
def test_hafeature_matches_loops_partially_filled_pairs(seed):
    """B = 12: at most 12 * 11 = 132 of the 256 rows are filled; the rest are zero rows (+3)."""
    filled = run_hafeature(seed, B=12, margin_levels=[1, 2, 3])
    assert all(0 < n < 256 for n in filled)


def test_hafeature_matches_loops_all_rows_filled():
    filled = run_hafeature(3, B=40, margin_levels=[1, 2])
    assert filled == [256, 256]


def test_hafeature_matches_loops_with_a_level_without_any_pair():
    """All targets under A: level 3 (A) has one label for the whole batch, level 1 does not."""
    filled = run_hafeature(4, B=10, margin_levels=[3, 1], classes=[0, 1, 2, 7])
    assert filled[0] == 0 and filled[1] > 0


def test_hafeature_margin_with_no_pair_is_exactly_three():
    z, w, y = hafeature_problem(5, B=10, classes=[0, 1, 7])  # all under A1: one label at levels 2, 3
    common = dict(level_weights=[F.normalize(v, dim=1) for v in w])
    base = hafeature_loss(z, y, **common, **hafeature_context(y, [], random.Random(0)))
    with_margin = hafeature_loss(z, y, **common, **hafeature_context(y, [2, 3], random.Random(0)))
    assert abs(float(with_margin - base) - 6.0) < 1e-12
    with_level_1 = hafeature_loss(z, y, **common, **hafeature_context(y, [1], random.Random(0)))
    assert float(with_level_1 - base) < 3.0 - 1e-3  # level 1 has pairs: 3 - mean JSD over the rows


def test_hafeature_margin_uses_the_levels_own_softmax():
    """Changing the leaf logits must not move the level-2 margin term (it pairs softmax(outputs[2]))."""
    z, w, y = hafeature_problem(6, B=16)
    common = dict(level_weights=[F.normalize(v, dim=1) for v in w])

    def margin_only(zz):
        full = hafeature_loss(zz, y, **common, **hafeature_context(y, [2], random.Random(1)))
        none = hafeature_loss(zz, y, **common, **hafeature_context(y, [], random.Random(1)))
        return float(full - none)

    z2 = [z[0] + 5 * torch.randn(z[0].shape, generator=gen(9), dtype=torch.float64)] + z[1:]
    assert abs(margin_only(z) - margin_only(z2)) < 1e-12
    z3 = z[:2] + [z[2] + 1.0 * torch.randn(z[2].shape, generator=gen(9), dtype=torch.float64)] + z[3:]
    assert abs(margin_only(z) - margin_only(z3)) > 1e-6


def test_hafeature_float32_batch_of_256_close_to_float64():
    z, w, y = hafeature_problem(7, B=256)
    out = {}
    for dtype in (torch.float32, torch.float64):
        out[dtype] = hafeature_loss(
            [t.to(dtype) for t in z],
            y,
            level_weights=[F.normalize(v.to(dtype), dim=1) for v in w],
            **hafeature_context(y, [1, 2, 3], random.Random(2)),
        )
        assert out[dtype].dtype == dtype
    assert abs(float(out[torch.float32]) - float(out[torch.float64])) < 1e-4


def test_level_parents_maps_each_finer_class_to_its_parent():
    parents = level_parents(LEVELS)
    assert parents[0] is None and len(parents) == H + 1
    for level in range(1, H + 1):
        assert parents[level].shape == (SIZES[level - 1],)
        for k in range(K):
            assert parents[level][LEVELS[k, level - 1]] == LEVELS[k, level]
    two_parents = np.array([[0, 0], [0, 1], [1, 1]])  # level-0 class 0 under both 0 and 1
    with pytest.raises(ValueError, match="two parents"):
        level_parents(two_parents)


def test_hafeature_margin_levels_match_the_paper_class_counts():
    from haframe.parsers import read_hierarchy

    expected = {
        "cifar100": [20, 8, 4, 2],
        "fgvc_aircraft": [70],
        "inat19": [72, 57, 34, 9, 4],
        "tiered_imagenet": [607, 584, 510, 422, 270, 159, 86],
    }
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for name, counts in expected.items():
        h = read_hierarchy(reference_file(f"hierarchies/{name}/tree.pkl"), "nltk_tree")
        labels = h.level_labels()
        for variant in ("hafeature_I", "hafeature_II"):
            levels = config["datasets"][name]["overrides"][variant]["margin_levels"]
            assert [int(labels[:, l].max()) + 1 for l in levels] == counts, (name, variant)


# ---------------------------------------------------------------- soft labels
@pytest.mark.parametrize("beta", [4.0, 10.0, 30.0])
def test_soft_label_targets_follow_the_authors_formula(beta):
    D = TREE.distance_matrix()
    T = soft_label_targets(D, beta)
    top = max(D[i, j] for i in range(K) for j in range(K))
    for y in range(K):
        denom = sum(math.exp(-beta * D[j, y] / top) for j in range(K))
        for j in range(K):
            assert abs(T[y, j] - math.exp(-beta * D[j, y] / top) / denom) < 1e-14
        assert abs(T[y].sum() - 1.0) < 1e-12
        others = [T[y, j] for j in range(K) if j != y]
        assert T[y, y] > max(others)  # peaks at the class itself


@pytest.mark.parametrize("seed", [0, 1])
def test_soft_labels_loss_matches_loops_and_kldivloss(seed):
    g = gen(seed)
    B = 7
    z = 2 * torch.randn(B, K, generator=g, dtype=torch.float64)
    y = torch.randint(0, K, (B,), generator=g)
    T = torch.from_numpy(soft_label_targets(TREE.distance_matrix(), 10.0))
    (z_lib,), (z_ref,) = leaves(z), leaves(z)
    lib = soft_labels_loss(z_lib, y, soft_targets=T)
    ref = 0.0
    for b in range(B):
        q = loop_softmax([z_ref[b, c] for c in range(K)])
        for j in range(K):
            t = T[int(y[b]), j]
            ref = ref + t * torch.log(t / q[j])
    ref = ref / (B * K)
    assert_same(lib, ref, [z_lib], [z_ref])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # KLDivLoss warns that 'mean' divides by B*K: that is the point
        authors = torch.nn.KLDivLoss()(F.log_softmax(z, dim=1), T[y])
    assert abs(float(lib.detach()) - float(authors)) < 1e-12


# ---------------------------------------------------------------- HXE
@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.5])
def test_hxe_weights_normalised_over_every_node_root_included(alpha):
    names, w = hxe_weights(TREE, alpha)
    assert sorted(names) == sorted({n for p in PATHS for n in p}) and len(names) == 18
    # nodes per depth in the unpadded tree: r | A B c5 C | A1 c2 B1 c4 C1 | c0 c1 c7 B2 c6 c9 | c3 c8
    Z = 1 + 4 * math.exp(-alpha) + 5 * math.exp(-2 * alpha) + 6 * math.exp(-3 * alpha) + 2 * math.exp(-4 * alpha)
    depth = {n: d for p in PATHS for d, n in enumerate(p)}
    for name, weight in zip(names, w):
        assert abs(weight - math.exp(-alpha * depth[name]) / Z) < 1e-15
    assert abs(w.sum() - 1.0) < 1e-14
    _, raw = hxe_weights(TREE, alpha, normalize=False)
    assert np.allclose(raw, w * Z, rtol=1e-14, atol=0)


def test_hxe_tensors_structure():
    matrix, membership = hxe_tensors(TREE, 0.3)
    names, w = hxe_weights(TREE, 0.3)
    assert matrix.shape == (K, len(names)) and membership.shape == (len(names), K)
    assert np.allclose(matrix.sum(axis=1), 0.0)  # every edge adds +w at C and -w at its parent
    for k, path in enumerate(PATHS):
        leaf = names.index(path[-1])
        assert matrix[k, leaf] == w[leaf]
        assert matrix[k, names.index("r")] == -w[names.index(path[1])]
        for n, name in enumerate(names):
            assert membership[n, k] == (name in path)
            assert (matrix[k, n] != 0) <= (name in path)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("alpha", [0.1, 0.4, 0.9])
def test_hxe_loss_matches_loops(seed, alpha):
    g = gen(seed)
    B = 12
    z = 2 * torch.randn(B, K, generator=g, dtype=torch.float64)
    y = torch.randint(0, K, (B,), generator=g)
    y[:K] = torch.arange(K)
    matrix, membership = (torch.from_numpy(a) for a in hxe_tensors(TREE, alpha))
    (z_lib,), (z_ref,) = leaves(z), leaves(z)
    lib = hxe_loss(z_lib, y, hxe_matrix=matrix, hxe_membership=membership)
    ref = loop_hxe(z_ref, y, TREE, alpha)
    assert_same(lib, ref, [z_lib], [z_ref])


def test_hxe_on_a_flat_tree_with_alpha_zero_is_cross_entropy():
    flat = Hierarchy.from_paths([["root", f"k{i}"] for i in range(6)])
    g = gen(3)
    z = 3 * torch.randn(10, 6, generator=g, dtype=torch.float64)
    y = torch.randint(0, 6, (10,), generator=g)
    for normalize, scale in ((False, 1.0), (True, 1.0 / 7)):  # authors: w = 1 / (root + 6 leaves)
        matrix, membership = (torch.from_numpy(a) for a in hxe_tensors(flat, 0.0, normalize=normalize))
        (z_lib,), (z_ref,) = leaves(z), leaves(z)
        lib = hxe_loss(z_lib, y, hxe_matrix=matrix, hxe_membership=membership)
        ref = scale * loop_ce(z_ref, y)
        assert_same(lib, ref, [z_lib], [z_ref])


def test_hxe_is_finite_when_off_path_probabilities_underflow():
    matrix, membership = (torch.from_numpy(a) for a in hxe_tensors(TREE, 0.2))
    z = torch.zeros(2, K, dtype=torch.float64)
    z[:, 5] = -2000.0  # p(c5) underflows to exactly 0; c5 is on neither target's path
    z = z.requires_grad_(True)
    y = torch.tensor([0, 3])
    out = hxe_loss(z, y, hxe_matrix=matrix, hxe_membership=membership)
    (g,) = torch.autograd.grad(out, z)
    assert torch.isfinite(out) and torch.isfinite(g).all()


# The authors' FGVC-Aircraft HAFeature terms (ltong1130ztr/HAFrame util/arch/custom_resnet.py,
# ResNet50_hafeat_l3's loops over fgvc_map_family_to_variant / fgvc_map_manu_to_family, whose
# manufacturer lists repeat a family once per variant; util/loss_function/jsd.py's
# JSDSimilarLoss), run once on the inputs of fgvc_lists_problem(): CE + both JSDs - both cosines
FGVC_TREES = [[0, 0, 0], [1, 1, 0], [2, 1, 0], [3, 2, 1], [4, 2, 1], [5, 2, 1], [6, 3, 1], [7, 4, 2], [8, 4, 2]]
FGVC_AUTHORS_LOSS = 3.0689663887023926  # their manufacturer sums reach 2.01 here


def fgvc_lists_problem():
    g = torch.Generator().manual_seed(0)
    logits = [torch.randn(6, n, generator=g) for n in (9, 5, 3)]  # variant, family, manufacturer logits
    weights = [torch.randn(n, 5, generator=g) for n in (9, 5, 3)]
    return logits, weights, torch.tensor([0, 2, 5, 6, 8, 3])


@pytest.mark.parametrize("form", ["authors", "unique"])
def test_hafeature_family_lists_reproduce_the_authors_fgvc_loss_or_count_each_family_once(form):
    tree = np.array(FGVC_TREES)
    logits, weights, y = fgvc_lists_problem()
    family_of, manufacturer_of_family = tree[:, 1], np.array([tree[tree[:, 1] == f][0, 2] for f in range(5)])
    variants_per_family = torch.from_numpy(np.bincount(family_of).astype(np.float64))
    loss = hafeature_loss(
        logits,
        y,
        level_targets=torch.from_numpy(tree)[y],
        level_parents=[None, torch.from_numpy(family_of), torch.from_numpy(manufacturer_of_family)],
        level_weights=[F.normalize(w, dim=1) for w in weights],
        margin_levels=[],
        shuffle_rng=random.Random(0),
        level_counts=[None, None, variants_per_family] if form == "authors" else None,
    )
    if form == "authors":
        assert loss.item() == pytest.approx(FGVC_AUTHORS_LOSS, abs=1e-6)
    else:
        assert abs(loss.item() - FGVC_AUTHORS_LOSS) > 1e-2  # the duplicates change the objective


def test_the_authors_form_counts_each_family_once_per_variant_from_the_tree():
    from types import SimpleNamespace

    from haframe.assets import RunAssets
    from haframe.methods.hafeature import METHOD

    tree = Hierarchy.from_paths([["r", f"m{m}", f"f{f}", f"v{v}"] for v, f, m in FGVC_TREES])
    assets = RunAssets(hierarchy=tree, distances=tree.distance_matrix(), levels=tree.level_labels(), frames={})
    run = SimpleNamespace(params={"margin_levels": None, "family_lists": "authors"}, name="fgvc")  # what it reads
    counts = METHOD.classifier(4, assets, run).counts
    assert counts[1] is None and counts[2].tolist() == [1.0, 2.0, 3.0, 1.0, 2.0]
