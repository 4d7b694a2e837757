"""Loaders for the two prepared layouts (``prepared.py``); ``make_loader`` picks by layout.

``ArrayLoader`` batches in-memory uint8 arrays and augments per batch on the device; shuffling
and augmentation draw from a generator seeded with (seed, epoch). ``ImageLoader`` decodes the
``images`` layout in DataLoader workers; every sample's augmentation draws from a generator
seeded by (run seed, epoch, sample index). Either way an epoch's batches depend neither on
what ran before it nor on the number of workers: a resumed run sees the same data.

The ``images`` layout: image files plus one index per split::

    <dir>/images/<split>/<class>/<file>   the prepared image files
    <dir>/{train,val,test}.csv            ``path,label`` (path relative to <dir>)
    <dir>/classes.txt, <dir>/meta.json    class order; counts, transform recipe, mean/std
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from .files import read_index
from .prepared import read_meta, read_split
from .transforms import ARRAY_TRANSFORMS, ImageTransform


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
    """Batches of an ``arrays`` split held on ``device``; training batches are augmented by the
    dataset's ``transform``: ``cifar`` (reflect-pad 4, random crop, horizontal flip) or ``none``."""

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
        transform: str,
        drop_last: bool = False,
    ):
        if transform not in ARRAY_TRANSFORMS:
            raise ValueError(f"arrays transform must be one of {ARRAY_TRANSFORMS}, got {transform!r}")
        super().__init__(num_items=len(labels), batch_size=batch_size, mean=mean, std=std,
                         device=device, train=train, drop_last=drop_last)
        self.images = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous().to(device)
        self.labels = torch.from_numpy(labels).to(device)
        self.augment = train and transform == "cifar"
        self.pad = 4

    def epoch(self, seed: int = 0, epoch: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        n = len(self.labels)
        order = torch.randperm(n, generator=g) if self.train else torch.arange(n)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            index = order[start : start + self.batch_size].to(self.labels.device)
            images = self.images[index].float()
            if self.augment:
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


class ImageFolderSplit(Dataset):
    def __init__(self, directory: str | Path, split: str, recipe: str, train: bool, size: int = 224):
        self.directory = Path(directory)
        self.rows = read_index(directory, split)
        self.transform = ImageTransform(recipe, train, size)
        self.train = train
        self.epoch_seed = 0

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.rows[index]
        with Image.open(self.directory / path) as pil:  # torchvision.io decoding is deprecated (0.29)
            image = torch.from_numpy(np.array(pil if pil.mode == "RGB" else pil.convert("RGB"))).permute(2, 0, 1)
        generator = torch.Generator().manual_seed(self.epoch_seed * 10_000_019 + index) if self.train else None
        return self.transform(image, generator), label


class ImageLoader(SplitLoader):
    """Batches of normalised images on ``device`` from the images layout (same interface as
    ArrayLoader: ``epoch(seed, epoch)``, ``len()``, ``num_samples``)."""

    def __init__(self, directory, split, *, recipe, batch_size, mean, std, device, train, drop_last=False, workers=0, size=224):
        self.dataset = ImageFolderSplit(directory, split, recipe, train, size)
        super().__init__(num_items=len(self.dataset), batch_size=batch_size, mean=mean, std=std,
                         device=device, train=train, drop_last=drop_last)
        self.workers = workers

    def epoch(self, seed: int = 0, epoch: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        self.dataset.epoch_seed = seed * 1_000_003 + epoch
        generator = torch.Generator().manual_seed(self.dataset.epoch_seed)
        loader = DataLoader(
            self.dataset, batch_size=self.batch_size, shuffle=self.train, generator=generator,
            num_workers=self.workers, drop_last=self.drop_last,
            pin_memory=self.device.type == "cuda", persistent_workers=False,
        )
        for images, labels in loader:
            images = images.to(self.device, non_blocking=True).float()
            yield self.normalise(images), labels.to(self.device, non_blocking=True)


def make_loader(
    meta_file: str | Path, split: str, *, train: bool, batch_size: int, device: torch.device,
    drop_last: bool = False, workers: int = 0,
) -> ArrayLoader | ImageLoader:
    """An ArrayLoader or ImageLoader for one split of the prepared dataset of ``meta_file``."""
    meta = read_meta(meta_file)
    common = dict(batch_size=batch_size, mean=meta["mean"], std=meta["std"], device=device, train=train, drop_last=drop_last)
    if meta["layout"] == "arrays":
        return ArrayLoader(*read_split(meta_file, split), transform=meta["transform"], **common)
    return ImageLoader(Path(meta_file).parent, split, recipe=meta["transform"], workers=workers, size=meta.get("image_size", 224), **common)
