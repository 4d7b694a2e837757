"""Flamingo (Chang et al., CVPR 2021, "Your Flamingo is my Bird"): one linear classifier per
hierarchy level on slices of the feature; loss = sum of the per-level cross-entropies;
prediction by the finest level (README, "The method" 4).

Level lists are FINEST FIRST: output 0 is the leaf level, output i level i of the padded tree.
"""

from __future__ import annotations

from .. import lazy
from .base import Method, MethodClassifier
from .maths import at_least_fp32, check_levels

torch = lazy.module("torch")
F = lazy.module("torch.nn.functional")
nn = lazy.module("torch.nn")

# The one Flamingo split in the authors' code that does not follow ``d // L`` with the
# remainder on the finest slice: the CIFAR-100 WRN-28-8 type-I model
# (util/arch/custom_wideresnet.py, WideResNet_flamingo_l5) hard-codes the slices
# [0:102], [102:204], [204:306], [306:409], [409:512]. Boundaries, coarsest first.
AUTHORS_FLAMINGO_BOUNDARIES: dict[tuple[int, int], tuple[int, ...]] = {
    (512, 5): (0, 102, 204, 306, 409, 512),
}


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


def flamingo_loss(outputs: list[torch.Tensor], targets: torch.Tensor, *, level_targets: torch.Tensor) -> torch.Tensor:
    """Sum over levels of CE(outputs[i], level_targets[:, i]).

    ``outputs`` finest first; ``level_targets`` is B x n_levels in the same order (extra
    coarser columns, e.g. the root, are ignored).
    """
    check_levels(outputs, level_targets)
    return sum(F.cross_entropy(at_least_fp32(logits), level_targets[:, i]) for i, logits in enumerate(outputs))


class Flamingo(MethodClassifier):
    """Level i's classifier sees its own feature slice plus the detached slices of all finer levels."""

    def __init__(self, dim: int, level_sizes: list[int], level_table: torch.Tensor):
        super().__init__()
        self.slices = flamingo_own_slices(dim, len(level_sizes))
        self.levels = nn.ModuleList(nn.Linear(dim - start, n) for n, (start, _) in zip(level_sizes, self.slices))
        self.register_buffer("level_table", level_table, persistent=False)  # K x levels: label per level

    def forward(self, features: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for linear, (start, end) in zip(self.levels, self.slices):
            inputs = torch.cat([features[:, start:end], features[:, end:].detach()], dim=1)
            outputs.append(linear(inputs))
        return outputs

    def loss(self, outputs: list[torch.Tensor], features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return flamingo_loss(outputs, targets, level_targets=self.level_table[targets])

    def class_scores(self, outputs: list[torch.Tensor]) -> torch.Tensor:
        return outputs[0]

    def linear_weight(self) -> torch.Tensor:
        """The finest classifier reads the features' last slice: zeros elsewhere."""
        finest = self.levels[0].weight
        start, _ = self.slices[0]
        return torch.cat([finest.new_zeros(finest.shape[0], start), finest], dim=1)


class FlamingoMethod(Method):
    name = "flamingo"

    def classifier(self, dim, assets, run) -> Flamingo:
        return Flamingo(dim, assets.level_sizes, torch.from_numpy(assets.levels[:, : assets.height]))


METHOD = FlamingoMethod()
