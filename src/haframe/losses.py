"""Training losses (method.md section 4), vectorised over samples and classes."""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, **_: object) -> torch.Tensor:
    return F.cross_entropy(logits, targets)


def cosine_to_frame(features: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
    """B x K cosines between each feature and each frame vector."""
    return F.normalize(features, dim=1) @ F.normalize(frame, dim=1).T


def haframe_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    *,
    features: torch.Tensor,
    frame: torch.Tensor,
    similarity: torch.Tensor,
    alpha: float,
    **_: object,
) -> torch.Tensor:
    """(1 - alpha) CE(h W^T, y) + alpha * mean_b sum_c (cos(h_b, w_c) - S[y_b, c])^2."""
    cosine = cosine_to_frame(_at_least_fp32(features), _at_least_fp32(frame))
    pull = (cosine - similarity[targets]).pow(2).sum(dim=1).mean()
    return (1.0 - alpha) * F.cross_entropy(_at_least_fp32(logits), targets) + alpha * pull


def _at_least_fp32(x: torch.Tensor) -> torch.Tensor:
    """Upcast bf16/fp16 (autocast) outputs; keep float64 as it is."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


# --- Hierarchical baselines (method.md section 4). Context tensors: haframe.hierarchy_targets.
# Level lists are FINEST FIRST: outputs[0] is the leaf level, outputs[i] level i.

_JSD_CLAMP = 1e-7  # m = clamp((p + q) / 2, 1e-7, 1), as the HAFeature authors' JSD
HAFEATURE_MARGIN = 3.0  # margin of the authors' dissimilar-pair term
HAFEATURE_PAIR_ROWS = 256  # rows of the authors' dissimilar-pair buffer


def flamingo_loss(
    outputs: list[torch.Tensor], targets: torch.Tensor, *, level_targets: torch.Tensor, **_: object
) -> torch.Tensor:
    """Sum over levels of CE(outputs[i], level_targets[:, i]) (Chang et al., "Your Flamingo is my Bird").

    ``outputs`` finest first; ``level_targets`` is B x n_levels in the same order (extra
    coarser columns, e.g. the root, are ignored).
    """
    _check_levels(outputs, level_targets)
    return sum(
        F.cross_entropy(_at_least_fp32(logits), level_targets[:, i]) for i, logits in enumerate(outputs)
    )


def hafeature_loss(
    outputs: list[torch.Tensor],
    targets: torch.Tensor,
    *,
    level_targets: torch.Tensor,
    level_parents: list[torch.Tensor],
    level_weights: list[torch.Tensor],
    margin_levels: list[int],
    shuffle_rng: random.Random,
    **_: object,
) -> torch.Tensor:
    """HAFeature (Garg et al., ECCV 2022) as the HAFrame authors ran it; all terms weight 1:

    CE(outputs[0], y)
    + sum_{i>=1} JSD(softmax(outputs[i-1]) summed into level-i parents, softmax(outputs[i]))
    - sum_{i>=1} mean_c cos(w_i[c], normalize(sum of the normalised level-(i-1) weights of c's children))
    + sum_{i in margin_levels} margin_i.

    Margin term (the authors' ``create_dissimilar_pairs`` + ``JSDDissimilarLoss(margin=3)``,
    ltong1130ztr/HAFrame MBM/better_mistakes/util/dissimilar_pairs.py, util/loss_function/jsd.py):
    its distribution p at level i is the softmax of level i's OWN classifier, softmax(outputs[i])
    (util/arch/custom_wideresnet.py WideResNet_hafeat_l5_cejsd_wtconst_dissim pairs l1..l4_out,
    util/arch/custom_resnet.py ResNet50_hafeat_l3/l7/l12 pair the family/genus/... softmax, never
    the finer level's aggregated p_hat). The batch order is shuffled with
    ``shuffle_rng.shuffle`` (one shuffle per margin level, in ``margin_levels`` order); positions
    j with label[j] != label[j+1] AT THAT LEVEL give the pairs (p_j, p_{j+1}) in scan order; the
    authors rescan the batch B times, so the 256 rows hold the pairs repeated in order, at most
    B * n_pairs rows; the remaining rows are zero vectors, each adding the constant 3. Per row
    0.5 [max(0, 3 - KL(p_a||m)) + max(0, 3 - KL(p_b||m))], m = clamp((p_a+p_b)/2, 1e-7, 1); mean
    over the 256 rows. Vectorised: no host sync, no loop over samples.

    Weights are L2-normalised again here (the authors normalise twice; idempotent).
    ``level_parents[i]`` (i >= 1) maps level i-1 classes to level i classes; entry 0 is unused.
    """
    _check_levels(outputs, level_targets)
    logits = [_at_least_fp32(z) for z in outputs]
    probs = [F.softmax(z, dim=1) for z in logits]
    loss = F.cross_entropy(logits[0], targets)
    for i in range(1, len(logits)):
        parent = level_parents[i].to(device=probs[i].device, dtype=torch.long)
        fine_in_parents = torch.zeros_like(probs[i]).index_add(1, parent, probs[i - 1])
        loss = loss + _jsd(fine_in_parents, probs[i])
        coarse = F.normalize(_at_least_fp32(level_weights[i]), dim=1)
        fine = F.normalize(_at_least_fp32(level_weights[i - 1]), dim=1)
        children = torch.zeros_like(coarse).index_add(0, parent.to(coarse.device), fine)
        cosine = F.cosine_similarity(coarse, F.normalize(children, dim=1), dim=1, eps=1e-8)
        loss = loss - cosine.mean()
    for level in margin_levels:
        loss = loss + _dissimilar_pair_margin(probs[level], level_targets[:, level], shuffle_rng)
    return loss


def soft_labels_loss(
    outputs: torch.Tensor, targets: torch.Tensor, *, soft_targets: torch.Tensor, **_: object
) -> torch.Tensor:
    """KL(soft_targets[y] || softmax(z)) summed, divided by B * K (``nn.KLDivLoss()``'s default
    'mean' reduction, as Bertinetto et al.'s code: better_mistakes/model/run_xent.py)."""
    log_q = F.log_softmax(_at_least_fp32(outputs), dim=1)
    t = soft_targets.to(device=log_q.device, dtype=log_q.dtype)[targets]
    return (torch.xlogy(t, t) - t * log_q).sum() / t.numel()


def hxe_loss(
    outputs: torch.Tensor,
    targets: torch.Tensor,
    *,
    hxe_matrix: torch.Tensor,
    hxe_membership: torch.Tensor,
    **_: object,
) -> torch.Tensor:
    """Hierarchical cross-entropy (Bertinetto et al., CVPR 2020):
    mean_b -sum over edges parent -> C of y_b's path of w_C log(P_C / P_parent), node
    probabilities P = softmax(z) @ membership^T, computed as -mean_b (hxe_matrix[y_b] * log P_b).sum().

    Only the nodes with a non-zero coefficient enter the log (off-path nodes whose P underflows
    to 0 would give 0 * -inf); a path node whose P underflows is clamped to the smallest normal
    float instead of the authors' dropping of that edge (their ``num != 0`` mask): the two agree
    whenever no probability underflows to exactly 0.
    """
    p = F.softmax(_at_least_fp32(outputs), dim=1)
    P = p @ hxe_membership.to(device=p.device, dtype=p.dtype).T
    coef = hxe_matrix.to(device=p.device, dtype=p.dtype)[targets]
    used = torch.where(coef != 0, P, torch.ones_like(P)).clamp_min(torch.finfo(P.dtype).tiny)
    return -(coef * torch.log(used)).sum(dim=1).mean()


def _check_levels(outputs: list[torch.Tensor], level_targets: torch.Tensor) -> None:
    if level_targets.dim() != 2 or level_targets.shape[1] < len(outputs):
        raise ValueError(
            f"level_targets must be B x n_levels with n_levels >= {len(outputs)} (one column per "
            f"output, finest first), got shape {tuple(level_targets.shape)}"
        )


def _kl_to_mixture(p: torch.Tensor, log_m: torch.Tensor) -> torch.Tensor:
    """Per row sum_c p log(p / m) with 0 log 0 = 0 (``F.kl_div(log_m, p, reduction="none")``)."""
    return (torch.xlogy(p, p) - p * log_m).sum(dim=1)


def _mixture_log(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    return torch.clamp(0.5 * (p + q), _JSD_CLAMP, 1.0).log()


def _jsd(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """0.5 [KL(p||m) + KL(q||m)], batch mean (the authors' ``JSDSimilarLoss``)."""
    log_m = _mixture_log(p, q)
    return 0.5 * (_kl_to_mixture(p, log_m) + _kl_to_mixture(q, log_m)).mean()


def _dissimilar_pair_margin(
    p: torch.Tensor,
    labels: torch.Tensor,
    rng: random.Random,
    rows: int = HAFEATURE_PAIR_ROWS,
    margin: float = HAFEATURE_MARGIN,
) -> torch.Tensor:
    """The authors' dissimilar-pair hinge at one level (see ``hafeature_loss``), vectorised."""
    B = p.shape[0]
    if B < 2:  # no pair at all: every row is a zero row
        return torch.full((), margin, dtype=p.dtype, device=p.device)
    order = list(range(B))
    rng.shuffle(order)  # the same draws as random.shuffle on the authors' list of B (label, p) pairs
    perm = torch.tensor(order, device=p.device)
    p, labels = p[perm], labels.to(p.device)[perm]
    differs = labels[:-1] != labels[1:]  # pair (j, j+1) for each True, in scan order
    n_pairs = differs.sum()
    starts = torch.argsort((~differs).to(torch.int8), stable=True)  # differing positions first
    r = torch.arange(rows, device=p.device)
    filled = r < B * n_pairs  # the authors rescan the batch B times at most
    j = starts[r % n_pairs.clamp_min(1)]  # row r holds pair r mod n_pairs
    a, b = p[j], p[j + 1]
    log_m = _mixture_log(a, b)
    hinge = 0.5 * (
        torch.clamp(margin - _kl_to_mixture(a, log_m), min=0) + torch.clamp(margin - _kl_to_mixture(b, log_m), min=0)
    )
    # a zero row has p_a = p_b = 0, so KL = 0 and the row adds the full margin
    return torch.where(filled, hinge, torch.full_like(hinge, margin)).mean()
