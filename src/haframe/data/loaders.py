"""Loaders for prepared datasets: ``make_loader`` picks by layout.

ArrayLoader batches in-memory uint8 arrays and augments per batch on the device. Shuffling
and augmentation draw from a generator seeded with (seed, epoch), so an epoch's batches do
not depend on what ran before it: a resumed run sees the same data.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F


class SplitLoader:
    """What both loaders share: batch counting, and normalisation on the training device."""

    def __init__(self, *, num_items: int, batch_size: int, mean: list[float], std: list[float],
                 device: torch.device, train: bool, drop_last: bool):
        self.num_items, self.batch_size, self.train, self.drop_last = num_items, batch_size, train, drop_last
        self.device = device
        self.mean = torch.tensor(mean, device=device).view(1, 3, 1, 1) * 255
        self.std = torch.tensor(std, device=device).view(1, 3, 1, 1) * 255

    def __len__(self) -> int:
        n = self.num_items
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    @property
    def num_samples(self) -> int:
        return len(self) * self.batch_size if self.drop_last else self.num_items

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        return (images - self.mean) / self.std


class ArrayLoader(SplitLoader):
    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        *,
        batch_size: int,
        mean: list[float],
        std: list[float],
        device: torch.device,
        train: bool,
        drop_last: bool = False,
        pad: int = 4,
    ):
        super().__init__(num_items=len(labels), batch_size=batch_size, mean=mean, std=std,
                         device=device, train=train, drop_last=drop_last)
        self.images = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous().to(device)
        self.labels = torch.from_numpy(labels).to(device)
        self.pad = pad

    def epoch(self, seed: int = 0, epoch: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        n = len(self.labels)
        order = torch.randperm(n, generator=g) if self.train else torch.arange(n)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            index = order[start : start + self.batch_size].to(self.labels.device)
            images = self.images[index].float()
            if self.train:
                images = self._augment(images, g)
            yield self.normalise(images), self.labels[index]

    def _augment(self, images: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """Reflect-pad + random crop + horizontal flip, vectorised over the batch."""
        n, _, h, w = images.shape
        p = self.pad
        padded = F.pad(images, (p, p, p, p), mode="reflect")
        dy = torch.randint(0, 2 * p + 1, (n,), generator=g).to(images.device)
        dx = torch.randint(0, 2 * p + 1, (n,), generator=g).to(images.device)
        flip = (torch.rand(n, generator=g) < 0.5).to(images.device)
        rows = (dy[:, None] + torch.arange(h, device=images.device))[:, None, :, None]
        cols = dx[:, None] + torch.arange(w, device=images.device)
        cols = torch.where(flip[:, None], cols.flip(1), cols)[:, None, None, :]
        batch = torch.arange(n, device=images.device)[:, None, None, None]
        channel = torch.arange(3, device=images.device)[None, :, None, None]
        return padded[batch, channel, rows, cols]


def make_loader(
    directory, split: str, *, train: bool, batch_size: int, device: torch.device,
    drop_last: bool = False, workers: int = 0,
):
    """An ArrayLoader or ImageLoader for one split of a prepared dataset."""
    from .images import ImageLoader
    from .prepared import read_meta, read_split

    meta = read_meta(directory)
    common = dict(batch_size=batch_size, mean=meta["mean"], std=meta["std"], device=device, train=train, drop_last=drop_last)
    if meta["layout"] == "arrays":
        return ArrayLoader(*read_split(directory, split), **common)
    return ImageLoader(directory, split, recipe=meta["transform"], workers=workers, size=meta.get("image_size", 224), **common)
