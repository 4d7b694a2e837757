"""Files of the ``images`` layout, without torch: the per-split index and the one-time
image conversion (crop, stretch, re-encode) every image preparation uses."""

from __future__ import annotations

import concurrent.futures
import csv
import io as _io
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import simplejpeg
from PIL import Image, UnidentifiedImageError

from ..fileio import atomic_path, write_text
from .prepared import DataError


def write_index(directory: str | Path, split: str, rows: list[tuple[str, int]]) -> None:
    """``<split>.csv``: each prepared file's path, label and CRC-32 (read back now: a file whose
    bytes change afterwards is named when it is read, ``decode_rgb``)."""
    directory = Path(directory)
    buffer = _io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "label", "crc32"])
    writer.writerows((path, label, f"{zlib.crc32((directory / path).read_bytes()):08x}") for path, label in rows)
    write_text(directory / f"{split}.csv", buffer.getvalue())


def read_index(directory: str | Path, split: str) -> list[tuple[str, int]]:
    with open(Path(directory) / f"{split}.csv", newline="") as handle:
        return [(row["path"], int(row["label"])) for row in csv.DictReader(handle)]


def read_crc32(directory: str | Path, split: str) -> list[int | None]:
    """Each file's CRC-32 as the preparation wrote it (None: prepared before they were kept)."""
    with open(Path(directory) / f"{split}.csv", newline="") as handle:
        return [int(row["crc32"], 16) if row.get("crc32") else None for row in csv.DictReader(handle)]


def checked_bytes(path: str | Path, crc32: int | None = None) -> bytes:
    """The file's bytes, checked against the CRC-32 its preparation recorded (None: none kept)."""
    data = Path(path).read_bytes()
    if crc32 is not None and (found := zlib.crc32(data)) != crc32:
        raise DataError(
            f"{path}: changed after preparation (CRC-32 {found:08x}, prepared as {crc32:08x}): delete it and the "
            "dataset's meta.json, then run again: the preparation converts it afresh (and the runs on it rerun)"
        )
    return data


def decode_rgb(path: str | Path, crc32: int | None = None) -> np.ndarray:
    """The image file's pixels, H x W x 3 uint8 (what every reader of the images layout decodes),
    its bytes checked against ``crc32`` where the preparation recorded one.

    Colour and grey JPEGs are decoded by simplejpeg: libjpeg-turbo as Pillow calls it (the same
    pixels, tests/data/test_data_paths.py) with less overhead per image; anything else by Pillow.
    (torchvision.io's decoders are deprecated in 0.29.)"""
    data = checked_bytes(path, crc32)
    if data[:2] == b"\xff\xd8":
        try:
            if simplejpeg.decode_jpeg_header(data)[2] in ("YCbCr", "Gray", "RGB"):
                return simplejpeg.decode_jpeg(data, colorspace="RGB")
        except ValueError:  # a JPEG libjpeg-turbo refuses; Pillow says why, or reads it
            pass
    with Image.open(path) as pil:  # Pillow's errors name the file (its bytes were checked above)
        return np.array(to_rgb(pil))


# Pixels above Pillow's own decompression-bomb threshold are refused (Pillow only warns up to
# twice that): a 9,459 x 9,459 image is the largest that prepares.
MAX_PIXELS = Image.MAX_IMAGE_PIXELS
BAD_IMAGES_FILE = "bad_images.txt"  # beside the prepared data: every file that failed, with why
SHOWN_BAD = 20  # bad files named in the error itself


class ImageTask(NamedTuple):
    """One image to prepare: how to read its bytes, where it goes, and how errors name it (its
    file, or its archive and member)."""

    read: Callable[[], bytes]
    dest: Path
    source: str


class BadImages(DataError):
    """Images that cannot be prepared: every one named, with what was wrong."""


def to_rgb(image: Image.Image) -> Image.Image:
    """An 8-bit RGB image by one stated rule per Pillow mode (README, "Your own data"):
    RGB as it is; 1, L, P (without transparency), CMYK, YCbCr, LAB, HSV by Pillow's own
    conversion; 16-bit integers (I;16, I;16B, I;16L, I) scaled by 255/65535 (I clipped to
    0..65535 first); 32-bit float (F) clipped to 0..1 and scaled by 255; an alpha channel (LA,
    PA, RGBA, RGBa, P or L with transparency) composited on white."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        pixels = np.clip(np.asarray(image, dtype=np.float64), 0, 65535) * (255 / 65535)
        return Image.fromarray(np.round(pixels).astype(np.uint8), "L").convert("RGB")
    if mode == "F":
        pixels = np.clip(np.asarray(image, dtype=np.float64), 0.0, 1.0) * 255
        return Image.fromarray(np.round(pixels).astype(np.uint8), "L").convert("RGB")
    if mode in ("LA", "PA", "RGBA", "RGBa") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def convert_image(
    data: bytes, dest: Path, *, size: int | None = None, crop_bottom: int = 0, quality: int = 95, as_is: bool = False
) -> None:
    """Decode (``to_rgb``), optionally crop ``crop_bottom`` pixel rows and stretch to size x
    size, save as JPEG atomically; ``as_is``: decode (the same checks), then keep the file's own
    bytes (a pretrained model's published preprocessing reads the original). A file already at
    ``dest`` is kept (preparation resumes where it stopped). Raises ValueError saying what is
    wrong with the image."""
    if dest.exists():
        return
    if not data:
        raise ValueError("an empty file")
    try:
        with Image.open(_io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ValueError(f"{width} x {height} pixels, above the limit of {MAX_PIXELS:,}")
            image = to_rgb(image)
            if crop_bottom:
                image = image.crop((0, 0, image.width, image.height - crop_bottom))
            if size is not None:
                image = image.resize((size, size), Image.Resampling.BILINEAR)
            image.load()  # decoded here, while the source is open: a damaged one fails now
    except (UnidentifiedImageError, Image.DecompressionBombError) as error:
        raise ValueError(f"not an image Pillow can read ({type(error).__name__})") from None
    except OSError as error:  # a truncated or damaged file: Pillow's words
        raise ValueError(f"a damaged image ({error})") from None
    with atomic_path(dest) as tmp:
        if as_is:
            tmp.write_bytes(data)
        else:
            image.save(tmp, format="JPEG", quality=quality)


def convert_images(
    tasks: Iterable[ImageTask],
    *,
    size: int | None = None,
    crop_bottom: int = 0,
    as_is: bool = False,
    threads: int = 1,
    log: Callable[[str], None] = lambda message: None,
) -> int:
    """Run ``convert_image`` (``size``, ``crop_bottom``, ``as_is``) over the tasks on a thread pool.

    Sources are read in order on the calling thread (tar members can only be streamed
    sequentially); decoding and encoding run in parallel. Every image is tried: those that fail
    are raised together at the end (BadImages: their count, the first 20 named with what was
    wrong, all of them in ``bad_images.txt`` beside the images folder). Returns the number of
    images.
    """
    done, pending, bad, bad_file = 0, {}, [], None

    def collect(finished) -> None:
        for future in finished:
            try:
                future.result()
            except ValueError as error:
                bad.append(f"{pending[future]}: {error}")
            del pending[future]

    with concurrent.futures.ThreadPoolExecutor(max(1, threads)) as pool:
        for task in tasks:
            bad_file = bad_file or _bad_images_file(task.dest)
            if len(pending) >= 4 * max(1, threads):
                collect(concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)[0])
            if not task.dest.exists():  # converted by an earlier, interrupted preparation
                future = pool.submit(
                    convert_image, task.read(), task.dest, size=size, crop_bottom=crop_bottom, as_is=as_is
                )
                pending[future] = task.source
            done += 1
            if done % 10_000 == 0:
                log(f"{done} images converted")
        collect(list(concurrent.futures.as_completed(list(pending))))
    if bad:
        write_text(bad_file, "".join(line + "\n" for line in sorted(bad)))
        shown = "; ".join(sorted(bad)[:SHOWN_BAD])
        rest = f" (and {len(bad) - SHOWN_BAD} more)" if len(bad) > SHOWN_BAD else ""
        raise BadImages(f"{len(bad)} of {done} images cannot be prepared: {shown}{rest}; all listed in {bad_file}")
    return done


def _bad_images_file(dest: Path) -> Path:
    """``bad_images.txt`` in the prepared data's folder (the one holding ``images/``)."""
    for parent in dest.parents:
        if parent.name == "images":
            return parent.parent / BAD_IMAGES_FILE
    return dest.parent / BAD_IMAGES_FILE
