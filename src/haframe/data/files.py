"""Files of the ``images`` layout, without torch: the per-split index and the one-time
image conversion (crop, stretch, re-encode) every image preparation uses."""

from __future__ import annotations

import concurrent.futures
import csv
import io as _io
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import simplejpeg
from PIL import Image

from ..fileio import atomic_path, write_text


def write_index(directory: str | Path, split: str, rows: list[tuple[str, int]]) -> None:
    buffer = _io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "label"])
    writer.writerows(rows)
    write_text(Path(directory) / f"{split}.csv", buffer.getvalue())


def read_index(directory: str | Path, split: str) -> list[tuple[str, int]]:
    with open(Path(directory) / f"{split}.csv", newline="") as handle:
        return [(row["path"], int(row["label"])) for row in csv.DictReader(handle)]


def decode_rgb(path: str | Path) -> np.ndarray:
    """The image file's pixels, H x W x 3 uint8 (what every reader of the images layout decodes).

    Colour and grey JPEGs are decoded by simplejpeg: libjpeg-turbo as Pillow calls it (the same
    pixels, tests/data/test_data_paths.py) with less overhead per image; anything else by Pillow.
    (torchvision.io's decoders are deprecated in 0.29.)"""
    data = Path(path).read_bytes()
    if data[:2] == b"\xff\xd8":
        try:
            if simplejpeg.decode_jpeg_header(data)[2] in ("YCbCr", "Gray", "RGB"):
                return simplejpeg.decode_jpeg(data, colorspace="RGB")
        except ValueError:  # a JPEG libjpeg-turbo refuses; Pillow says why, or reads it
            pass
    with Image.open(path) as pil:  # Pillow's errors name the file
        return np.array(pil if pil.mode == "RGB" else pil.convert("RGB"))


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
    size: int | None = None,
    crop_bottom: int = 0,
    threads: int = 1,
    log: Callable[[str], None] = lambda message: None,
) -> int:
    """Run ``convert_image`` (``size``, ``crop_bottom``) over (read source bytes, destination)
    pairs on a thread pool.

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
            if not dest.exists():  # converted by an earlier, interrupted preparation
                pending.add(pool.submit(convert_image, read(), dest, size=size, crop_bottom=crop_bottom))
            done += 1
            if done % 10_000 == 0:
                log(f"{done} images converted")
        for future in concurrent.futures.as_completed(pending):
            future.result()
    return done
