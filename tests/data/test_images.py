"""Image preparation (haframe.data.files): one stated rule per Pillow mode, and every bad file
named with what is wrong, all in one pass (issue 25, items 4, 5, 10 and 12)."""

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from haframe.data.files import (
    BAD_IMAGES_FILE,
    MAX_PIXELS,
    BadImages,
    ImageTask,
    convert_images,
    read_crc32,
    to_rgb,
    write_index,
)
from haframe.data.kinds.folder import scan
from haframe.data.loaders import make_loader
from haframe.data.prepared import DataError, write_meta


def rgb_of(image: Image.Image) -> tuple[int, int, int]:
    return tuple(int(v) for v in np.asarray(to_rgb(image))[0, 0])


@pytest.mark.parametrize(
    "mode, value, expected",
    [
        ("1", 1, (255, 255, 255)),
        ("L", 77, (77, 77, 77)),
        ("RGB", (10, 20, 30), (10, 20, 30)),
        ("CMYK", (0, 0, 0, 0), (255, 255, 255)),
        ("I;16", 30000, (117, 117, 117)),  # 30000 x 255 / 65535 = 116.7: no longer pure white
        ("I", 65535, (255, 255, 255)),
        ("I", 70000, (255, 255, 255)),  # clipped to 16 bits first
        ("F", 0.5, (128, 128, 128)),
        ("LA", (77, 0), (255, 255, 255)),  # fully transparent: the white it is composited on
        ("LA", (77, 255), (77, 77, 77)),
        ("RGBA", (10, 20, 30, 255), (10, 20, 30)),
        ("RGBA", (0, 0, 0, 0), (255, 255, 255)),
    ],
)
def test_every_mode_becomes_8_bit_rgb_by_its_rule(mode, value, expected):
    assert rgb_of(Image.new(mode, (2, 2), value)) == expected


def test_palette_images_with_and_without_transparency():
    palette = Image.new("P", (2, 2), 1)
    palette.putpalette([0, 0, 0, 200, 100, 50] + [0] * 762)
    assert rgb_of(palette) == (200, 100, 50)
    palette.info["transparency"] = 1  # index 1 transparent: white
    assert rgb_of(palette) == (255, 255, 255)
    pa = Image.new("PA", (2, 2), (1, 0))
    pa.putpalette([0, 0, 0, 200, 100, 50] + [0] * 762)
    assert rgb_of(pa) == (255, 255, 255)


def png(mode: str, size=(4, 4), value=0) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, value).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_16_bit_png_file_is_scaled_not_white(tmp_path):
    convert_images([ImageTask(lambda: png("I;16", value=30000), tmp_path / "images/a.jpg", "a.png")])
    assert 112 <= np.asarray(Image.open(tmp_path / "images/a.jpg"))[0, 0, 0] <= 122  # 117, through JPEG


def test_every_bad_image_is_named_with_what_is_wrong_in_one_pass(tmp_path):
    jpeg = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 20, 30)).save(jpeg, format="JPEG")
    sources = {
        "good.jpg": jpeg.getvalue(),
        "empty.jpg": b"",
        "text.jpg": b"not an image at all",
        "cut.jpg": jpeg.getvalue()[: len(jpeg.getvalue()) // 2],
        "huge.png": png("1", size=(MAX_PIXELS // 1000 + 1, 1000)),
    }
    tasks = [
        ImageTask(lambda data=data: data, tmp_path / "images" / name, f"/data/{name}") for name, data in sources.items()
    ]
    with pytest.raises(BadImages) as error:
        convert_images(tasks, threads=2)
    message = str(error.value)
    assert message.startswith("4 of 5 images cannot be prepared: ")
    assert "/data/empty.jpg: an empty file" in message
    assert "/data/text.jpg: not an image Pillow can read (UnidentifiedImageError)" in message
    assert "/data/cut.jpg: a damaged image (Truncated File Read)" in message
    assert f"/data/huge.png: {MAX_PIXELS // 1000 + 1} x 1000 pixels, above the limit of {MAX_PIXELS:,}" in message
    listed = (tmp_path / BAD_IMAGES_FILE).read_text().splitlines()
    assert len(listed) == 4 and (tmp_path / "images/good.jpg").is_file()


def test_hidden_files_are_skipped_and_two_images_with_one_stem_are_refused(tmp_path):
    for split in ("train", "val", "test"):
        (tmp_path / split / "cat").mkdir(parents=True)
        (tmp_path / split / "cat" / "a.png").write_bytes(png("RGB"))
        (tmp_path / split / "cat" / "._a.jpg").write_bytes(b"macOS resource fork")
    found = scan(tmp_path, ["cat"])
    assert [image.name for image, _ in found["train"]] == ["a.png"]
    (tmp_path / "train" / "cat" / "a.jpg").write_bytes(png("RGB"))
    with pytest.raises(DataError, match=r"train/cat/a.jpg and .*train/cat/a.png: two images with the same name but"):
        scan(tmp_path, ["cat"])


def prepared_images(root: Path, count: int = 3) -> Path:
    """A prepared images layout of ``count`` JPEGs in one class, as the preparations write it."""
    rows = []
    for i in range(count):
        path = f"images/test/c/{i}.JPEG"
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((40, 40, 3), 40 * i, np.uint8)).save(root / path, quality=95)
        rows.append((path, 0))
    write_index(root, "test", rows)
    write_meta(
        root,
        ["c"],
        layout="images",
        counts={"test": count},
        mean=[0.5] * 3,
        std=[0.25] * 3,
        transform="imagenet",
        image_size=32,
    )
    return root / "meta.json"


def read_all(meta: Path) -> int:
    loader = make_loader(meta, "test", train=False, batch_size=2, device=torch.device("cpu"))
    return sum(len(labels) for _, labels in loader.epoch())


def test_a_prepared_jpeg_changed_afterwards_is_named_when_read(tmp_path):
    """Issue 25, item 12: one flipped byte in a prepared JPEG decoded silently."""
    meta = prepared_images(tmp_path)
    assert read_all(meta) == 3
    image = tmp_path / "images/test/c/1.JPEG"
    data = bytearray(image.read_bytes())
    data[len(data) // 2] ^= 0xFF
    image.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"images/test/c/1.JPEG: changed after preparation \(CRC-32 [0-9a-f]{8}"):
        read_all(meta)


def test_an_index_written_before_the_digests_is_read_as_it_is(tmp_path):
    meta = prepared_images(tmp_path)
    index = tmp_path / "test.csv"
    index.write_text("".join(",".join(line.split(",")[:2]) + "\n" for line in index.read_text().splitlines()))
    assert read_crc32(tmp_path, "test") == [None] * 3 and read_all(meta) == 3
