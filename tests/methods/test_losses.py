"""Cross-entropy (the ce method's classifier) and the HAFrame loss against per-sample Python loops.

Reference: README, "The method" 4,
L = (1 - alpha) * CE(h W^T, y) + alpha * (1/B) * sum_b sum_c (cos(h_b, w_c) - S[y_b, c])^2.
"""

import math

import numpy as np
import pytest
import torch

from haframe.frames import draw_frame, solve_similarity
from haframe.hierarchy import Hierarchy
from haframe.methods.ce import LinearClassifier
from haframe.methods.haframe import cosine_to_frame, haframe_loss

B, K, D_FEAT = 8, 6, 10


def small_tree_distances():
    # unbalanced: root -> A -> {A1 -> {c0, c1}, c2}, root -> B -> {c3, c4}, root -> c5
    paths = [
        ["root", "A", "A1", "c0"],
        ["root", "A", "A1", "c1"],
        ["root", "A", "c2"],
        ["root", "B", "c3"],
        ["root", "B", "c4"],
        ["root", "c5"],
    ]
    return Hierarchy.from_paths(paths).distance_matrix()


def problem(seed, dtype=torch.float64):
    """Random features, a HAFrame W (K x d), its S, targets; logits = h W^T."""
    D = small_tree_distances()
    sim = solve_similarity(D, 2.0, "exact")
    W = torch.tensor(draw_frame(sim.factor, D_FEAT, seed=seed), dtype=dtype)
    S = torch.tensor(sim.S, dtype=dtype)
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(B, D_FEAT, generator=g, dtype=dtype)
    y = torch.randint(0, K, (B,), generator=g)
    y[:K] = torch.arange(K)  # every class appears at least once
    return h, W, S, y


def loop_cross_entropy(z, y):
    """Mean over samples of -log softmax(z_b)[y_b], one scalar at a time."""
    total = 0.0
    n, k = z.shape
    for b in range(n):
        m = max(z[b, c] for c in range(k))
        lse = m + torch.log(sum(torch.exp(z[b, c] - m) for c in range(k)))
        total = total + (lse - z[b, int(y[b])])
    return total / n


def loop_haframe(z, h, W, S, y, alpha):
    """The formula (README, "The method" 4) with explicit per-sample, per-class loops."""
    n, d = h.shape
    k = W.shape[0]
    pull = 0.0
    for b in range(n):
        h_norm = torch.sqrt(sum(h[b, i] * h[b, i] for i in range(d)))
        for c in range(k):
            w_norm = torch.sqrt(sum(W[c, i] * W[c, i] for i in range(d)))
            dot = sum(h[b, i] * W[c, i] for i in range(d))
            cos = dot / (h_norm * w_norm)
            pull = pull + (cos - S[int(y[b]), c]) ** 2
    return (1 - alpha) * loop_cross_entropy(z, y) + alpha * pull / n


def value_and_grads(fn, h, z):
    """fn(h, z) and its gradients w.r.t. the features h and the logits z (both leaves)."""
    h = h.detach().clone().requires_grad_(True)
    z = z.detach().clone().requires_grad_(True)
    out = fn(h, z)
    gh, gz = torch.autograd.grad(out, (h, z), allow_unused=True)
    gh = torch.zeros_like(h) if gh is None else gh
    gz = torch.zeros_like(z) if gz is None else gz
    return out.detach(), gh, gz


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("alpha", [0.0, 0.4, 0.5, 1.0])
def test_haframe_loss_matches_loops_float64(seed, alpha):
    h, W, S, y = problem(seed)
    z = h @ W.T
    lib = lambda hh, zz: haframe_loss(zz, y, features=hh, frame=W, similarity=S, alpha=alpha)
    ref = lambda hh, zz: loop_haframe(zz, hh, W, S, y, alpha)
    v_lib, gh_lib, gz_lib = value_and_grads(lib, h, z)
    v_ref, gh_ref, gz_ref = value_and_grads(ref, h, z)
    assert abs(float(v_lib) - float(v_ref)) < 1e-10
    assert float((gh_lib - gh_ref).abs().max()) < 1e-10
    assert float((gz_lib - gz_ref).abs().max()) < 1e-10


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_haframe_loss_gradient_through_logits_float64(seed):
    """With z = h W^T computed inside the graph, d/dh collects both terms."""
    h, W, S, y = problem(seed)
    alpha = 0.4
    h1 = h.clone().requires_grad_(True)
    out = haframe_loss(h1 @ W.T, y, features=h1, frame=W, similarity=S, alpha=alpha)
    (g_lib,) = torch.autograd.grad(out, h1)
    h2 = h.clone().requires_grad_(True)
    ref = loop_haframe(h2 @ W.T, h2, W, S, y, alpha)
    (g_ref,) = torch.autograd.grad(ref, h2)
    assert abs(float(out.detach()) - float(ref.detach())) < 1e-10
    assert float((g_lib - g_ref).abs().max()) < 1e-10


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_haframe_loss_matches_loops_float32(seed, alpha):
    """Same formula in float32 (training precision), to float32 accuracy."""
    h, W, S, y = problem(seed)
    z = h @ W.T
    h32, z32, W32, S32 = h.float(), z.float(), W.float(), S.float()
    lib = lambda hh, zz: haframe_loss(zz, y, features=hh, frame=W32, similarity=S32, alpha=alpha)
    ref = lambda hh, zz: loop_haframe(zz, hh, W, S, y, alpha)  # float64 reference
    v_lib, gh_lib, gz_lib = value_and_grads(lib, h32, z32)
    v_ref, gh_ref, gz_ref = value_and_grads(ref, h, z)
    assert abs(float(v_lib) - float(v_ref)) < 1e-5
    assert float((gh_lib.double() - gh_ref).abs().max()) < 1e-5
    assert float((gz_lib.double() - gz_ref).abs().max()) < 1e-5


@pytest.mark.parametrize("seed", [0, 1])
def test_alpha_zero_is_cross_entropy(seed):
    h, W, S, y = problem(seed)
    z = h @ W.T
    lib = lambda hh, zz: haframe_loss(zz, y, features=hh, frame=W, similarity=S, alpha=0.0)
    ce = lambda hh, zz: loop_cross_entropy(zz, y) + 0.0 * hh.sum()
    v_lib, gh_lib, gz_lib = value_and_grads(lib, h, z)
    v_ce, _, gz_ce = value_and_grads(ce, h, z)
    assert abs(float(v_lib) - float(v_ce)) < 1e-10
    assert float((gz_lib - gz_ce).abs().max()) < 1e-10
    assert float(gh_lib.abs().max()) == 0.0  # features only enter through the cosine term


def test_alpha_one_is_pure_cosine_term():
    h, W, S, y = problem(0)
    z = h @ W.T
    out = haframe_loss(z, y, features=h, frame=W, similarity=S, alpha=1.0)
    cos = torch.nn.functional.normalize(h, dim=1) @ torch.nn.functional.normalize(W, dim=1).T
    expected = ((cos - S[y]) ** 2).sum() / B
    assert abs(float(out) - float(expected)) < 1e-6


def test_loss_is_zero_pull_when_features_sit_on_the_frame():
    """Features equal to (a positive multiple of) their class's frame vector: the pull is 0."""
    _, W, S, y = problem(1)
    h = W[y] * torch.linspace(0.5, 3.0, B, dtype=W.dtype)[:, None]
    out = haframe_loss(h @ W.T, y, features=h, frame=W, similarity=S, alpha=1.0)
    assert abs(float(out)) < 1e-6


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cross_entropy_matches_log_softmax_loop(seed):
    g = torch.Generator().manual_seed(seed)
    z = (3 * torch.randn(B, K, generator=g, dtype=torch.float64)).requires_grad_(True)
    y = torch.randint(0, K, (B,), generator=g)
    out = LinearClassifier(1, K).loss(z, None, y)
    ref = 0.0
    for b in range(B):
        row = [float(z.detach()[b, c]) for c in range(K)]
        m = max(row)
        log_softmax_y = row[int(y[b])] - m - math.log(sum(math.exp(v - m) for v in row))
        ref -= log_softmax_y
    ref /= B
    assert abs(float(out.detach()) - ref) < 1e-12
    # gradient: (softmax - onehot) / B
    (gz,) = torch.autograd.grad(out, z)
    p = np.exp(z.detach().numpy() - z.detach().numpy().max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(B), y.numpy()] -= 1
    np.testing.assert_allclose(gz.numpy(), p / B, atol=1e-12)


def test_a_misspelled_loss_input_raises():
    h, W, S, y = problem(0)
    with pytest.raises(TypeError, match="similarty"):
        haframe_loss(h @ W.T, y, features=h, frame=W, similarty=S, alpha=0.4)


def test_cosine_to_frame():
    h, W, _, _ = problem(2)
    cos = cosine_to_frame(h, W)
    assert cos.shape == (B, K)
    for b in range(B):
        for c in range(K):
            expected = float(h[b] @ W[c] / (h[b].norm() * W[c].norm()))
            assert abs(float(cos[b, c]) - expected) < 1e-12
