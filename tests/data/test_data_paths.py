"""The images layout's other data paths give the published one's images: the pixel store the
same batches bit for bit, device augmentation the same crops and flips within one grey level
(fgvc's exactly), and each run names its path in metrics.json."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from haframe.data.device_augment import collate_crops, resize_and_flip
from haframe.data.files import decode_rgb, write_index
from haframe.data.loaders import make_loader
from haframe.data.pixels import store_pixels
from haframe.data.prepared import DataError, data_path, read_meta, write_meta
from haframe.data.transforms import ImageTransform
from haframe.runs import ConfigError, Training, typed
from haframe.study import Study

CPU = torch.device("cpu")
SIZE = 32
STD = 0.25


def smooth_image(rng: np.random.Generator, height: int, width: int) -> Image.Image:
    """Photo-like content (neighbouring pixels correlated), so that rounding differences stay small."""
    small = rng.integers(0, 256, (height // 4 + 1, width // 4 + 1, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC)


def image_dataset(root: Path, recipe: str, shapes: list[tuple[int, int]]) -> Path:
    """An images-layout dataset of JPEGs of the given (height, width), in two classes, all splits alike."""
    rng = np.random.default_rng(3)
    rows = []
    for index, (height, width) in enumerate(shapes):
        relative = f"images/{index % 2}/{index:03d}.jpg"
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        smooth_image(rng, height, width).save(root / relative, quality=95)
        rows.append((relative, index % 2))
    for split in ("train", "val", "test"):
        write_index(root, split, rows)
    write_meta(
        root,
        ["a", "b"],
        layout="images",
        counts={split: len(rows) for split in ("train", "val", "test")},
        mean=[0.5] * 3,
        std=[STD] * 3,
        transform=recipe,
        image_size=SIZE,
    )
    return root / "meta.json"


@pytest.fixture(scope="module")
def datasets(tmp_path_factory) -> dict[str, Path]:
    """inat: images at the input size, as iNat-2019 is prepared; fgvc: full-size images of several shapes."""
    return {
        "inat": image_dataset(tmp_path_factory.mktemp("inat"), "inat", [(SIZE, SIZE)] * 12),
        "fgvc": image_dataset(tmp_path_factory.mktemp("fgvc"), "fgvc", [(40, 70), (55, 48), (90, 64)] * 4),
    }


def batches(meta_file: Path, *, train: bool, augment_on: str = "workers", workers: int = 0, epoch: int = 1):
    loader = make_loader(
        meta_file,
        "train",
        train=train,
        batch_size=5,
        device=CPU,
        drop_last=train,
        workers=workers,
        augment_on=augment_on,
    )
    return list(loader.epoch(seed=7, epoch=epoch))


@pytest.mark.parametrize(
    "mode, save",
    [
        ("RGB", dict(format="JPEG", quality=95)),  # 4:2:0, as preparation writes them
        ("RGB", dict(format="JPEG", quality=90, subsampling=0)),  # 4:4:4
        ("RGB", dict(format="JPEG", quality=75, subsampling=1)),  # 4:2:2
        ("RGB", dict(format="JPEG", quality=85, progressive=True)),
        ("L", dict(format="JPEG", quality=90)),
        ("CMYK", dict(format="JPEG", quality=90)),  # Pillow's
        ("RGB", dict(format="PNG")),  # Pillow's
    ],
)
def test_decoding_gives_pillows_pixels_for_every_kind_of_file(tmp_path, mode, save):
    image = smooth_image(np.random.default_rng(1), 37, 53).convert(mode)
    path = tmp_path / "image"
    image.save(path, **save)
    with Image.open(path) as pil:
        expected = np.array(pil.convert("RGB"))
    got = decode_rgb(path)
    assert got.dtype == np.uint8 and got.shape == (37, 53, 3)
    assert np.array_equal(got, expected)


@pytest.mark.parametrize(
    "recipe, shape",
    [("inat", (3, 224, 224)), ("imagenet", (3, 300, 500)), ("imagenet", (3, 90, 60)), ("fgvc", (3, 300, 450))],
)
def test_device_resize_and_flip_are_the_published_transform_within_one_grey_level(recipe, shape):
    image = torch.from_numpy(np.array(smooth_image(np.random.default_rng(0), *shape[1:]))).permute(2, 0, 1)
    transform = ImageTransform(recipe, train=True, size=224)
    published, samples = [], []
    for seed in range(32):
        published.append(transform(image, torch.Generator().manual_seed(seed)).float())
        crop, flip = transform.crop(image, torch.Generator().manual_seed(seed))
        samples.append((crop, flip, 0))
    canvas, heights, widths, flips, _ = collate_crops(samples)
    difference = (resize_and_flip(canvas, heights, widths, flips, 224) - torch.stack(published)).abs()
    assert flips.any() and not flips.all()
    if recipe == "fgvc":
        assert difference.max() == 0  # its crop is already 224 x 224: copied and flipped exactly
    else:
        assert difference.max() <= 1.01  # the published kernel rounds to integers after each pass
        assert 0.1 < difference.mean() < 0.5  # the rounding, not a shifted or mirrored image


@pytest.mark.parametrize("recipe", ["inat", "fgvc"])
def test_device_augmentation_batches_follow_the_published_ones(datasets, recipe):
    published = batches(datasets[recipe], train=True)
    on_device = batches(datasets[recipe], train=True, augment_on="device")
    assert len(published) == len(on_device) == 2
    for (images, labels), (device_images, device_labels) in zip(published, on_device):
        assert torch.equal(labels, device_labels) and device_images.shape == images.shape == (5, 3, SIZE, SIZE)
        difference = (device_images - images).abs().max()
        if recipe == "fgvc":
            assert difference == 0
        else:  # not rounded to integers: the device did the resize
            assert 0 < difference <= 1.01 / (255 * STD)
    # evaluation keeps the published resize on either setting
    assert all(
        torch.equal(a, b)
        for (a, _), (b, _) in zip(
            batches(datasets[recipe], train=False), batches(datasets[recipe], train=False, augment_on="device")
        )
    )


def test_device_augmentation_does_not_depend_on_the_workers(datasets):
    alone = batches(datasets["inat"], train=True, augment_on="device")
    with_workers = batches(datasets["inat"], train=True, augment_on="device", workers=2)
    assert all(torch.equal(a, b) and torch.equal(x, y) for (a, x), (b, y) in zip(alone, with_workers))


@pytest.mark.parametrize("recipe", ["inat", "fgvc"])
def test_the_pixel_store_gives_the_same_batches_bit_for_bit(datasets, recipe, tmp_path):
    meta_file = datasets[recipe]
    expected = {train: batches(meta_file, train=train) for train in (True, False)}
    stored = tmp_path / "stored"
    shutil.copytree(meta_file.parent, stored)
    meta = store_pixels(stored / "meta.json", threads=2)
    shutil.rmtree(stored / "images")  # what training reads now is the store
    assert meta["pixels"] == {split: f"pixels/{split}.npy" for split in ("train", "val", "test")}
    assert read_meta(stored / "meta.json")["pixels"] == meta["pixels"]
    assert np.load(stored / "pixels/train.npy", mmap_mode="r").shape == (12, SIZE, SIZE, 3)
    for train in (True, False):
        got = batches(stored / "meta.json", train=train, workers=1)
        assert all(torch.equal(a, b) and torch.equal(x, y) for (a, x), (b, y) in zip(expected[train], got))
    assert data_path(meta, "device") == (
        "pixel store, resized and cropped in the workers, flipped on the device"
        if recipe == "fgvc"
        else "pixel store, cropped in the workers, resized and flipped on the device"
    )


def test_a_pixel_store_refuses_images_of_another_size_naming_the_file(tmp_path):
    meta_file = image_dataset(tmp_path, "inat", [(SIZE, SIZE), (SIZE, SIZE + 8)])
    with pytest.raises(DataError, match=r"001\.jpg: 40x32 pixels; a pixel store holds images of 32x32"):
        store_pixels(meta_file)
    assert "pixels" not in read_meta(meta_file) and not list(tmp_path.glob("pixels/*"))  # no temporary left either


def test_each_data_path_is_named_and_a_wrong_setting_is_refused():
    assert data_path({"layout": "arrays"}, "workers") == "arrays in memory, augmented on the device"
    assert (
        data_path({"layout": "images"}, "workers")
        == "JPEG files decoded in the workers, the published transforms in the workers"
    )
    with pytest.raises(ConfigError, match="training.augment_on: expected one of workers, device, got 'gpu'"):
        typed(Training, {"augment_on": "gpu"}, "training")


def test_device_augmentation_is_refused_where_the_images_keep_their_own_sizes(tmp_path):
    from conftest import tiny_config

    config = tiny_config()
    config["datasets"] = {
        "mine": {
            "kind": "folder",
            "folder": str(tmp_path),
            "transform": "imagenet",
            "frame": {"gamma": 1.0},
            "hierarchy": {"source": str(tmp_path / "tree.tsv"), "format": "tsv"},
            "training": {"augment_on": "device"},
        }
    }
    with pytest.raises(
        ConfigError,
        match=r"variants.ce_II on datasets.mine: training.augment_on: device needs images of one "
        r"size.*set datasets.mine.resize, or augment_on: workers",
    ):
        Study(config)
    config["datasets"]["mine"]["resize"] = 64  # stretched to one size while preparing: accepted
    with pytest.raises(ConfigError, match="exceeds the 0 training images"):  # the next check: this folder is empty
        Study(config)
