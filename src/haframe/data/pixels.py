"""The pixel store of an images-layout dataset (a dataset's ``store: pixels``): every split's
images decoded once, as the training transform's first step reads them, in one memory-mapped
uint8 array per split, ``pixels/<split>.npy`` (N x size x size x 3, index order), named in
``meta.json`` under ``pixels``. Training then decodes nothing and reads the same images bit for
bit: a recipe that resizes first (fgvc, ``Recipe.resize_first``) has its deterministic
Resize(size, size) applied here with the loader's own function; the other recipes crop from the
image as it is, so their images must be size x size already (iNat-2019 and tieredImageNet-H are
prepared so; a folder dataset with ``resize``).

It costs size x size x 3 bytes per image (147 KiB at 224 px, some 7x a JPEG at quality 95).
"""

from __future__ import annotations

import concurrent.futures
import functools
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..fileio import atomic_path, write_json
from .files import decode_rgb, read_crc32, read_index
from .prepared import DataError, read_meta
from .recipes import RECIPES
from .transforms import ImageTransform


def store_pixels(meta_file: str | Path, *, threads: int = 1, log: Callable[[str], None] = lambda message: None) -> dict:
    """Write the pixel store of the prepared images-layout dataset of ``meta_file`` and name it
    in ``meta.json`` (rewritten last); returns the new meta."""
    meta_file = Path(meta_file)
    meta = read_meta(meta_file)
    if meta["layout"] != "images":
        raise DataError(
            f"{meta_file}: store: pixels is for datasets of image files; this one is of layout {meta['layout']!r}"
        )
    directory, size = meta_file.parent, int(meta["image_size"])
    resize = _published_resize(meta["transform"], size) if RECIPES[meta["transform"]].resize_first else None

    def fill(array: np.ndarray, rows: list, digests: list, index: int) -> None:
        """Decode image ``index`` of a split into its row of the store (in a worker thread)."""
        path = directory / rows[index][0]
        image = decode_rgb(path, digests[index])
        if resize is not None:
            image = resize(image)
        if image.shape[:2] != (size, size):
            raise DataError(
                f"{path}: {image.shape[1]}x{image.shape[0]} pixels; a pixel store holds images of "
                f"{size}x{size} (a folder dataset: set its resize to {size})"
            )
        array[index] = image

    stores = {}
    for split in meta["counts"]:
        rows = read_index(directory, split)
        stores[split] = f"pixels/{split}.npy"
        log(f"pixel store {split}: decoding {len(rows)} images to {directory / stores[split]}")
        with atomic_path(directory / stores[split]) as tmp:
            array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(rows), size, size, 3))
            with concurrent.futures.ThreadPoolExecutor(max(1, threads)) as pool:
                list(pool.map(functools.partial(fill, array, rows, read_crc32(directory, split)), range(len(rows))))
            array.flush()
            del array
    meta["pixels"] = stores
    write_json(meta_file, meta)
    return meta


def _published_resize(recipe: str, size: int) -> Callable[[np.ndarray], np.ndarray]:
    """The recipe's first Resize(size, size) (fgvc's), the loader's own, on H x W x 3 arrays (torch
    only when resizing, as in transforms.py: preparing any other store imports none)."""
    import torch

    transform = ImageTransform(recipe, train=False, size=size)
    return lambda image: transform.resize(torch.from_numpy(image).permute(2, 0, 1)).permute(1, 2, 0).numpy()
