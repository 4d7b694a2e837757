"""HAFeature (Garg et al., ECCV 2022, "Learning hierarchy aware features") as the HAFrame
authors ran it: one classifier per level with L2-normalised weights, trained with CE on the
leaves plus JSD, weight-cosine and dissimilar-pair margin terms; prediction by the finest level
(README, "The method" 4). Level lists are FINEST FIRST (output 0 = leaf level).

``family_lists``: the authors' FGVC-Aircraft code lists each manufacturer's families once per
variant (``fgvc_map_manu_to_family`` has no ``np.unique``; 100 entries for 70 families), so a
family's probability and weight enter its manufacturer's sum once per variant below it:
``authors`` reproduces that (every node from the leaves' parents up counted once per leaf below
it when summed into its parent), ``unique`` (default: their CIFAR-100 and iNat19 code) counts
each child once. The paper config runs FGVC with ``authors``; the README's deviations table and
the report's run parameters name the form.
"""

from __future__ import annotations

import random

import numpy as np

from .. import lazy
from ..hierarchy import level_parents
from ..options import Option
from ..runs import ConfigError
from .base import Method, MethodClassifier
from .maths import at_least_fp32, check_levels, jsd, kl_to_mixture, mixture_log

torch = lazy.module("torch")
F = lazy.module("torch.nn.functional")
nn = lazy.module("torch.nn")

MARGIN = 3.0  # margin of the authors' dissimilar-pair term
PAIR_ROWS = 256  # rows of the authors' dissimilar-pair buffer


def hafeature_loss(
    outputs: list[torch.Tensor],
    targets: torch.Tensor,
    *,
    level_targets: torch.Tensor,
    level_parents: list[torch.Tensor | None],
    level_weights: list[torch.Tensor],
    margin_levels: list[int],
    shuffle_rng: random.Random,
    level_counts: list[torch.Tensor | None] | None = None,
) -> torch.Tensor:
    """HAFeature's loss; all terms weight 1:

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
    ``level_parents[i]`` (i >= 1) maps level i-1 classes to level i classes; entry 0 is unused;
    ``level_counts[i]`` (None: once each) how many times each level i-1 class enters its parent's
    sums (``family_lists: authors``).
    """
    check_levels(outputs, level_targets)
    logits = [at_least_fp32(z) for z in outputs]
    probs = [F.softmax(z, dim=1) for z in logits]
    loss = F.cross_entropy(logits[0], targets)
    for i in range(1, len(logits)):
        parent = level_parents[i].to(device=probs[i].device, dtype=torch.long)
        count = (level_counts or [None] * len(logits))[i]
        count = None if count is None else count.to(device=probs[i].device, dtype=probs[i].dtype)
        fine_probs = probs[i - 1] if count is None else probs[i - 1] * count
        fine_in_parents = torch.zeros_like(probs[i]).index_add(1, parent, fine_probs)
        loss = loss + jsd(fine_in_parents, probs[i])
        coarse = F.normalize(at_least_fp32(level_weights[i]), dim=1)
        fine = F.normalize(at_least_fp32(level_weights[i - 1]), dim=1)
        fine = fine if count is None else fine * count[:, None].to(fine.device)
        children = torch.zeros_like(coarse).index_add(0, parent.to(coarse.device), fine)
        cosine = F.cosine_similarity(coarse, F.normalize(children, dim=1), dim=1, eps=1e-8)
        loss = loss - cosine.mean()
    for level in margin_levels:
        loss = loss + dissimilar_pair_margin(probs[level], level_targets[:, level], shuffle_rng)
    return loss


def dissimilar_pair_margin(
    p: torch.Tensor,
    labels: torch.Tensor,
    rng: random.Random,
    rows: int = PAIR_ROWS,
    margin: float = MARGIN,
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
    log_m = mixture_log(a, b)
    hinge = 0.5 * (
        torch.clamp(margin - kl_to_mixture(a, log_m), min=0) + torch.clamp(margin - kl_to_mixture(b, log_m), min=0)
    )
    # a zero row has p_a = p_b = 0, so KL = 0 and the row adds the full margin
    return torch.where(filled, hinge, torch.full_like(hinge, margin)).mean()


class HAFeatureLevels(MethodClassifier):
    """One classifier per level with L2-normalised weights: logits = h w_hat^T + b."""

    def __init__(
        self,
        dim: int,
        level_sizes: list[int],
        level_table: torch.Tensor,
        parents: list[torch.Tensor],
        margin_levels: list[int],
        counts: list[torch.Tensor | None] | None = None,
    ):
        super().__init__()
        self.weights = nn.ParameterList(nn.Parameter(torch.empty(n, dim)) for n in level_sizes)
        self.biases = nn.ParameterList(nn.Parameter(torch.zeros(n)) for n in level_sizes)
        for weight in self.weights:
            nn.init.kaiming_uniform_(weight, a=5**0.5)  # nn.Linear's default
        self.register_buffer("level_table", level_table, persistent=False)
        for level, parent in enumerate(parents, start=1):
            self.register_buffer(f"parents_{level}", parent, persistent=False)
        self.margin_levels = list(margin_levels)
        self.counts = [None, *(counts or [None] * len(parents))]  # per level: entries in its parent's sums
        self.shuffle_rng = random.Random(0)

    def start_epoch(self, seed: int, epoch: int) -> None:
        self.shuffle_rng = random.Random(seed * 1_000_003 + epoch)  # the margin term's pair shuffle

    def normalised_weights(self) -> list[torch.Tensor]:
        return [F.normalize(w, dim=1) for w in self.weights]

    def forward(self, features: torch.Tensor) -> list[torch.Tensor]:
        return [features @ w.T.to(features.dtype) + b for w, b in zip(self.normalised_weights(), self.biases)]

    def loss(self, outputs: list[torch.Tensor], features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        parents = [None] + [getattr(self, f"parents_{level}") for level in range(1, len(self.weights))]
        return hafeature_loss(
            outputs,
            targets,
            level_targets=self.level_table[targets],
            level_parents=parents,
            level_weights=self.normalised_weights(),
            margin_levels=self.margin_levels,
            shuffle_rng=self.shuffle_rng,
            level_counts=self.counts,
        )

    def class_scores(self, outputs: list[torch.Tensor]) -> torch.Tensor:
        return outputs[0]

    def linear_weight(self) -> torch.Tensor:
        return F.normalize(self.weights[0], dim=1)


class HAFeature(Method):
    name = "hafeature"
    added_later = ("family_lists",)
    params = {
        "family_lists": Option(
            str,
            "unique",
            "how often a child enters its parent's sums: unique (once), or authors (once per leaf below it, from "
            "the leaves' parents up: the authors' FGVC-Aircraft lists)",
            choices=("unique", "authors"),
        ),
        # structural (the authors set it per dataset: config/config.yaml), not searched
        "margin_levels": Option(
            list,
            None,
            "the levels (1 = the leaves' parents) whose dissimilar-pair margin term joins the loss",
            items=Option(int, low=1),
            nullable=True,
            note="null: every level between the leaves and the root",
        ),
    }

    def report_note(self, params) -> str | None:
        if params["family_lists"] != "authors":
            return None
        return (
            "family lists as the authors' FGVC code: a family enters its manufacturer's sums once per variant "
            "(family_lists: authors; README, deviations)"
        )

    def tree_problems(self, run, tree) -> dict[str, str]:
        levels, height = run.params["margin_levels"], tree.height
        if not levels or height is None or max(levels) < height:
            return {}
        if height < 2:
            return {
                "margin_levels": f"{levels}: a tree of height {height} has no level between the leaves (0) and "
                "the root; leave it null"
            }
        return {
            "margin_levels": f"{levels} must lie in 1..{height - 1}, the levels between the leaves (0) and the "
            f"root ({height})"
        }

    def classifier(self, dim, assets, run) -> HAFeatureLevels:
        height = assets.height
        parents = [torch.from_numpy(p) for p in level_parents(assets.levels)[1:height]]
        margin_levels = run.params["margin_levels"] or list(range(1, height))
        if max(margin_levels, default=0) >= height:
            raise ConfigError(
                f"{run.name}: margin_levels {margin_levels} must lie in 1..{height - 1}, the levels "
                f"between the leaves (0) and the root ({height}) of this hierarchy"
            )
        counts = None
        if run.params["family_lists"] == "authors":  # leaves below each node; the leaves themselves once
            counts = [
                None if level == 1 else torch.from_numpy(np.bincount(assets.levels[:, level - 1]).astype(np.float64))
                for level in range(1, height)
            ]
        return HAFeatureLevels(
            dim, assets.level_sizes, torch.from_numpy(assets.levels[:, :height]), parents, margin_levels, counts
        )


METHOD = HAFeature()
