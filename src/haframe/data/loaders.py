"""Loaders for the two prepared layouts (``prepared.py``); ``make_loader`` picks by layout.

``ArrayLoader`` batches in-memory uint8 arrays and augments per batch on the device; shuffling
and augmentation draw from a generator seeded with (seed, epoch). ``ImageLoader`` decodes the
``images`` layout in DataLoader workers; every sample's augmentation draws from a generator
seeded by (run seed, epoch, sample index). Either way an epoch's batches depend neither on
what ran before it nor on the number of workers: a resumed run sees the same data.

The images layout's data path, named in each run's ``metrics.json``: the published transforms
run in the workers (``training.augment_on: workers``, the default) or the workers crop and the
device resizes and flips (``device``: ``device_augment.py``); the images are decoded from their
files or read from a pixel store (a dataset's ``store: pixels``: ``pixels.py``, the same images).

The ``images`` layout: image files plus one index per split::

    <dir>/images/<split>/<class>/<file>   the prepared image files
    <dir>/{train,val,test}.csv            ``path,label,crc32`` (path relative to <dir>; CRC-32 checked when read)
    <dir>/classes.txt, <dir>/meta.json    class order; counts, transform recipe, mean/std
    <dir>/pixels/<split>.npy              optional: the decoded images, N x size x size x 3 uint8
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from .device_augment import collate_crops, resize_and_flip
from .files import decode_rgb, read_crc32, read_index
from .prepared import AUGMENT_ON, read_meta, read_split
from .recipes import RECIPES
from .transforms import ARRAY_TRANSFORMS, ImageTransform


class SplitLoader:
    """What both loaders share: batch counting, and normalisation on the training device."""

    def __init__(
        self,
        *,
        num_items: int,
        batch_size: int,
        mean: list[float],
        std: list[float],
        device: torch.device,
        train: bool,
        drop_last: bool,
    ):
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
        super().__init__(
            num_items=len(labels),
            batch_size=batch_size,
            mean=mean,
            std=std,
            device=device,
            train=train,
            drop_last=drop_last,
        )
        self.images = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous().to(device)
        self.labels = torch.from_numpy(labels).to(device)
        self.augment = train and bool(RECIPES[transform].train)  # cifar's; none: ()
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
    """One split of the images layout: (image, label) with the published transform applied in
    the worker; with ``augment_on="device"`` in training, (crop, flip, label) for
    ``device_augment`` to finish. Images come from the split's pixel store when ``pixels``
    (``pixels.py``) names one, else decoded from the files."""

    def __init__(
        self,
        directory: str | Path,
        split: str,
        recipe: str,
        train: bool,
        size: int = 224,
        augment_on: str = "workers",
        pixels: str | None = None,
    ):
        if augment_on not in AUGMENT_ON:
            raise ValueError(f"training.augment_on must be one of {AUGMENT_ON}, got {augment_on!r}")
        self.directory = Path(directory)
        self.rows = read_index(directory, split)
        self.crc32 = read_crc32(directory, split)
        self.transform = ImageTransform(recipe, train, size)
        self.train = train
        self.crop_only = train and augment_on == "device"
        self.pixels_file = self.directory / pixels if pixels else None
        self._pixels = None  # opened in the process that reads it (a memory map is not for pickling)
        self.epoch_seed = 0

    def __len__(self) -> int:
        return len(self.rows)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_pixels": None}

    def __getitem__(self, index: int):
        path, label = self.rows[index]
        image = self._read(index, path)
        generator = torch.Generator().manual_seed(self.epoch_seed * 10_000_019 + index) if self.train else None
        if self.crop_only:
            crop, flip = self.transform.crop(image, generator)
            return crop.contiguous(), flip, label
        return self.transform(image, generator), label

    def _read(self, index: int, path: str) -> torch.Tensor:
        """uint8 C x H x W."""
        if self.pixels_file is not None:
            if self._pixels is None:
                self._pixels = np.load(self.pixels_file, mmap_mode="r")
            return torch.from_numpy(np.array(self._pixels[index])).permute(2, 0, 1)
        return torch.from_numpy(decode_rgb(self.directory / path, self.crc32[index])).permute(2, 0, 1)


class ImageLoader(SplitLoader):
    """Batches of normalised images on ``device`` from the images layout (same interface as
    ArrayLoader: ``epoch(seed, epoch)``, ``len()``, ``num_samples``)."""

    def __init__(
        self,
        directory,
        split,
        *,
        recipe,
        batch_size,
        mean,
        std,
        device,
        train,
        drop_last=False,
        workers=0,
        size=224,
        augment_on="workers",
        pixels=None,
    ):
        self.dataset = ImageFolderSplit(directory, split, recipe, train, size, augment_on, pixels)
        super().__init__(
            num_items=len(self.dataset),
            batch_size=batch_size,
            mean=mean,
            std=std,
            device=device,
            train=train,
            drop_last=drop_last,
        )
        self.workers, self.size = workers, size

    def epoch(self, seed: int = 0, epoch: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        self.dataset.epoch_seed = seed * 1_000_003 + epoch
        generator = torch.Generator().manual_seed(self.dataset.epoch_seed)
        loader = DataLoader(
            self.dataset,
            batch_size=self.batch_size,
            shuffle=self.train,
            generator=generator,
            num_workers=self.workers,
            drop_last=self.drop_last,
            pin_memory=self.device.type == "cuda",
            persistent_workers=False,
            collate_fn=collate_crops if self.dataset.crop_only else None,
        )
        for batch in loader:
            if self.dataset.crop_only:
                canvas, heights, widths, flips, labels = (part.to(self.device, non_blocking=True) for part in batch)
                images = resize_and_flip(canvas, heights, widths, flips, self.size)
            else:
                images, labels = (part.to(self.device, non_blocking=True) for part in batch)
                images = images.float()
            yield self.normalise(images), labels


def make_loader(
    meta_file: str | Path,
    split: str,
    *,
    train: bool,
    batch_size: int,
    device: torch.device,
    drop_last: bool = False,
    workers: int = 0,
    augment_on: str = "workers",
) -> ArrayLoader | ImageLoader:
    """An ArrayLoader or ImageLoader for one split of the prepared dataset of ``meta_file``;
    ``augment_on`` applies to the images layout (the arrays layout augments on the device)."""
    meta = read_meta(meta_file)
    common = dict(
        batch_size=batch_size, mean=meta["mean"], std=meta["std"], device=device, train=train, drop_last=drop_last
    )
    if meta["layout"] == "arrays":
        return ArrayLoader(*read_split(meta_file, split), transform=meta["transform"], **common)
    return ImageLoader(
        Path(meta_file).parent,
        split,
        recipe=meta["transform"],
        workers=workers,
        size=meta.get("image_size", 224),
        augment_on=augment_on,
        pixels=(meta.get("pixels") or {}).get(split),
        **common,
    )
