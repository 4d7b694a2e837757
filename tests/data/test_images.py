"""Image preparation (haframe.data.files): one stated rule per Pillow mode, and every bad file
named with what is wrong, all in one pass (issue 25, items 4, 5, 10 and 12)."""

import io

import numpy as np
import pytest
from PIL import Image

from haframe.data.files import BAD_IMAGES_FILE, MAX_PIXELS, BadImages, ImageTask, convert_images, to_rgb
from haframe.data.kinds.folder import scan
from haframe.data.prepared import DataError


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
