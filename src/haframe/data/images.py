"""The ``images`` prepared layout: image files plus one index per split.

    <dir>/images/<split>/<class>/<file>   the prepared image files
    <dir>/{train,val,test}.csv            ``path,label`` (path relative to <dir>)
    <dir>/classes.txt, <dir>/meta.json    class order; counts, transform recipe, mean/std

Loading decodes in DataLoader workers. Every sample's augmentation draws from a generator
seeded by (run seed, epoch, sample index), so batches do not depend on the number of
workers, and a resumed run sees the same data as an uninterrupted one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from .files import read_index
from .loaders import SplitLoader
from .transforms import image_transform


class ImageFolderSplit(Dataset):
    def __init__(self, directory: str | Path, split: str, recipe: str, train: bool, size: int = 224):
        self.directory = Path(directory)
        self.rows = read_index(directory, split)
        self.transform = image_transform(recipe, train, size)
        self.train = train
        self.epoch_seed = 0

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.rows[index]
        with Image.open(self.directory / path) as pil:  # torchvision.io decoding is deprecated
            image = torch.from_numpy(np.array(pil.convert("RGB"))).permute(2, 0, 1)
        if self.train:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.epoch_seed * 10_000_019 + index)
                image = self.transform(image)
        else:
            image = self.transform(image)
        return image, label


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


