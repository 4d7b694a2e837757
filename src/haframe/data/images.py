"""The ``images`` prepared layout: image files plus one index per split.

    <dir>/images/<split>/<class>/<file>   the prepared image files
    <dir>/{train,val,test}.csv            ``path,label`` (path relative to <dir>)
    <dir>/classes.txt, <dir>/meta.json    class order; counts, transform recipe, mean/std

Loading decodes in DataLoader workers. Every sample's augmentation draws from a generator
seeded by (run seed, epoch, sample index), so batches do not depend on the number of
workers, and a resumed run sees the same data as an uninterrupted one.
"""

from __future__ import annotations

import concurrent.futures
import csv
import io as _io
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from ..io import atomic_path, write_text
from .transforms import image_transform


def write_index(directory: str | Path, split: str, rows: list[tuple[str, int]]) -> None:
    buffer = _io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "label"])
    writer.writerows(rows)
    write_text(Path(directory) / f"{split}.csv", buffer.getvalue())


def read_index(directory: str | Path, split: str) -> list[tuple[str, int]]:
    with open(Path(directory) / f"{split}.csv", newline="") as handle:
        return [(row["path"], int(row["label"])) for row in csv.DictReader(handle)]


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


class ImageLoader:
    """Batches of normalised images on ``device`` from the images layout (same interface as
    ArrayLoader: ``epoch(seed, epoch)``, ``len()``, ``num_samples``)."""

    def __init__(self, directory, split, *, recipe, batch_size, mean, std, device, train, drop_last=False, workers=0, size=224):
        self.dataset = ImageFolderSplit(directory, split, recipe, train, size)
        self.batch_size, self.train, self.drop_last, self.workers = batch_size, train, drop_last, workers
        self.device = device
        self.mean = torch.tensor(mean, device=device).view(1, 3, 1, 1) * 255
        self.std = torch.tensor(std, device=device).view(1, 3, 1, 1) * 255

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    @property
    def num_samples(self) -> int:
        return len(self) * self.batch_size if self.drop_last else len(self.dataset)

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
            yield (images - self.mean) / self.std, labels.to(self.device, non_blocking=True)


def convert_image(data: bytes, dest: Path, *, size: int | None = None, crop_bottom: int = 0, quality: int = 95) -> None:
    """Decode, optionally crop ``crop_bottom`` pixel rows and stretch to size x size, save as
    JPEG atomically. A file already at ``dest`` is kept (preparation resumes where it stopped)."""
    if dest.exists():
        return
    with Image.open(_io.BytesIO(data)) as image:
        image = image.convert("RGB")
        if crop_bottom:
            image = image.crop((0, 0, image.width, image.height - crop_bottom))
        if size is not None:
            image = image.resize((size, size), Image.Resampling.BILINEAR)
        with atomic_path(dest) as tmp:
            image.save(tmp, format="JPEG", quality=quality)


def convert_images(
    tasks: Iterable[tuple[Callable[[], bytes], Path]],
    *,
    threads: int = 1,
    log: Callable[[str], None] = lambda message: None,
    **options,
) -> int:
    """Run ``convert_image`` over (read source bytes, destination) pairs on a thread pool.

    Sources are read in order on the calling thread (tar members can only be streamed
    sequentially); decoding and encoding run in parallel. Returns the number of images.
    """
    done, pending = 0, set()
    with concurrent.futures.ThreadPoolExecutor(max(1, threads)) as pool:
        for read, dest in tasks:
            if len(pending) >= 4 * max(1, threads):
                finished, pending = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
                for future in finished:
                    future.result()
            pending.add(pool.submit(convert_image, read(), dest, **options) if not dest.exists() else _done())
            done += 1
            if done % 10_000 == 0:
                log(f"{done} images converted")
        for future in concurrent.futures.as_completed(pending):
            future.result()
    return done


def _done() -> concurrent.futures.Future:
    future: concurrent.futures.Future = concurrent.futures.Future()
    future.set_result(None)
    return future
