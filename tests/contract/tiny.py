"""What the contract tests build in-process: a small tree, a run of any method and head on it,
and fixed batches for the training loop and ``predict``."""

from __future__ import annotations

import torch

from haframe.data.kinds.synthetic import planted_hierarchy
from haframe.methods import get_method
from haframe.runs import Evaluation, FrameSpec, RunSpec, Training

TREE = planted_hierarchy((3, 2, 2))  # 12 leaves, height 3
IMAGE_SIZE = 16


def run_spec(method: str, head: str, seed: int = 0) -> RunSpec:
    """A run of ``method`` with its default parameters: the tiny CNN on the CPU, no pretraining."""
    variant = f"{method}_{head}"
    return RunSpec(
        dataset="contract",
        dataset_kind="synthetic",
        variant=variant,
        seed=seed,
        method=method,
        head=head,
        params=get_method(method).resolve_params({}, f"variants.{variant}"),
        posthoc=(),
        frame=FrameSpec(gamma=1.0),
        training=Training(backbone="tiny_cnn", pretrained=None, batch_size=8, device="cpu"),
        evaluation=Evaluation(),
    )


def random_batches(count: int, size: int = 8, seed: int = 1) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    return [
        (
            torch.randn(size, 3, IMAGE_SIZE, IMAGE_SIZE, generator=generator),
            torch.randint(0, TREE.num_classes, (size,), generator=generator),
        )
        for _ in range(count)
    ]


class Batches:
    """Fixed batches in the loaders' interface (``epoch(seed, epoch)``), the same every epoch."""

    def __init__(self, batches: list[tuple[torch.Tensor, torch.Tensor]]):
        self.batches = batches

    def epoch(self, seed: int | None = None, epoch: int | None = None):
        return iter(self.batches)
