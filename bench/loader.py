"""Training-loader throughput on generated JPEGs, per data path, on the CPU.

Per image in one process (no DataLoader), the CPU work of each path on the same JPEGs:
the issue's baseline (torchvision v2 transforms under a forked, reseeded global generator),
the published transforms now (the same images), device augmentation's worker side (decode and
crop; the resize and flip run batched on the training device) and both again from the pixel
store (no decoding). Then the device step itself on this CPU, and DataLoader rates per worker
count. Prints Markdown tables.

    .venv/bin/python bench/loader.py [--images 512] [--recipe inat] [--source-size 224]

``--recipe fgvc --source-size 800`` gives FGVC-Aircraft-like work (full-size photos resized
to 224 every epoch); iNat-2019 and tieredImageNet-H are prepared at 224 px (the default).
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from haframe.data.device_augment import collate_crops, resize_and_flip
from haframe.data.files import write_index
from haframe.data.loaders import ImageFolderSplit, ImageLoader
from haframe.data.pixels import store_pixels
from haframe.data.prepared import read_meta, write_meta
from haframe.data.transforms import NORMALISATION

GPU_IMAGES_PER_SECOND = 5000  # ResNet-50 training on one H200, the goal: the figure to feed


def make_dataset(root: Path, n: int, recipe: str, source_size: int) -> Path:
    rng = np.random.default_rng(0)
    rows = []
    height = source_size * 3 // 4 if source_size != 224 else 224  # photos are 4:3; the 224 px preparation is square
    for i in range(n):
        # smooth random content compresses like a photo, unlike white noise
        small = rng.integers(0, 256, (height // 8, source_size // 8, 3), dtype=np.uint8)
        image = Image.fromarray(small).resize((source_size, height), Image.Resampling.BICUBIC)
        path = root / "images" / "train" / f"{i:05d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, quality=95)
        rows.append((path.relative_to(root).as_posix(), i % 10))
    write_index(root, "train", rows)
    mean, std = NORMALISATION[recipe]
    write_meta(
        root,
        [f"c{i}" for i in range(10)],
        layout="images",
        counts={"train": n},
        mean=list(mean),
        std=list(std),
        transform=recipe,
        image_size=224,
    )
    return root / "meta.json"


def best_rate(item, n: int, repeats: int = 3) -> float:
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        for index in range(n):
            item(index)
        best = max(best, n / (time.perf_counter() - start))
    return best


def earlier_item(root: Path, recipe: str):
    """The issue's baseline: v2 transforms, the global generator forked and reseeded per image."""
    from torchvision.transforms import v2

    rows = ImageFolderSplit(root, "train", recipe, train=True).rows
    earlier = (
        v2.Compose([v2.RandomResizedCrop(224, antialias=True), v2.RandomHorizontalFlip()])
        if recipe != "fgvc"
        else v2.Compose(
            [v2.Resize((224, 224), antialias=True), v2.RandomCrop(224, padding=4), v2.RandomHorizontalFlip()]
        )
    )

    def item(index):
        with Image.open(root / rows[index][0]) as pil:
            image = torch.from_numpy(np.array(pil.convert("RGB"))).permute(2, 0, 1)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(index)
            return earlier(image)

    return item


def per_image_rates(meta_file: Path, recipe: str) -> dict[str, float]:
    root = meta_file.parent
    pixels = read_meta(meta_file)["pixels"]["train"]
    paths = {
        "baseline: v2 transforms, global generator forked and reseeded per image": earlier_item(root, recipe),
        "published transforms (augment_on: workers), JPEG": ImageFolderSplit(root, "train", recipe, True).__getitem__,
        "device augmentation's worker side (decode + crop), JPEG": ImageFolderSplit(
            root, "train", recipe, True, augment_on="device"
        ).__getitem__,
        "published transforms, pixel store": ImageFolderSplit(root, "train", recipe, True, pixels=pixels).__getitem__,
        "device augmentation's worker side, pixel store": ImageFolderSplit(
            root, "train", recipe, True, augment_on="device", pixels=pixels
        ).__getitem__,
    }
    n = read_meta(meta_file)["counts"]["train"]
    return {name: best_rate(item, n) for name, item in paths.items()}


def device_step_rate(meta_file: Path, recipe: str, batch_size: int = 64) -> float:
    """Images/s of resize_and_flip on this CPU (what a GPU does in the device path)."""
    split = ImageFolderSplit(meta_file.parent, "train", recipe, True, augment_on="device")
    canvas, heights, widths, flips, _ = collate_crops([split[i] for i in range(batch_size)])
    return best_rate(lambda _: resize_and_flip(canvas, heights, widths, flips, 224), 5) * batch_size


def loader_rate(meta_file: Path, workers: int, augment_on: str, pixels: bool, batch_size: int = 64) -> float:
    meta = read_meta(meta_file)
    loader = ImageLoader(
        meta_file.parent,
        "train",
        recipe=meta["transform"],
        batch_size=batch_size,
        mean=meta["mean"],
        std=meta["std"],
        device=torch.device("cpu"),
        train=True,
        drop_last=True,
        workers=workers,
        augment_on=augment_on,
        pixels=meta["pixels"]["train"] if pixels else None,
    )
    next(iter(loader.epoch(0, 0)))  # start-up (worker spawn) is not throughput
    start, seen = time.perf_counter(), 0
    for images, _ in loader.epoch(0, 1):
        seen += len(images)
    return seen / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--recipe", default="inat", choices=["inat", "imagenet", "fgvc"])
    parser.add_argument("--source-size", type=int, default=224, help="width of the generated JPEGs (224: square)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    meta_file = make_dataset(Path(tempfile.mkdtemp()), args.images, args.recipe, args.source_size)
    start = time.perf_counter()
    store_pixels(meta_file)
    print(
        f"{args.images} generated JPEGs {args.source_size} px wide, recipe {args.recipe!r}, one torch thread; "
        f"pixel store written in {time.perf_counter() - start:.1f} s\n"
    )
    rates = per_image_rates(meta_file, args.recipe)
    baseline = next(iter(rates.values()))
    print("| CPU work per image, one process | images/s | vs baseline |\n|---|---|---|")
    for name, rate in rates.items():
        print(f"| {name} | {rate:.0f} | {rate / baseline:.2f}x |")
    print(
        f"\nDevice step (resize_and_flip, batch 64) on this CPU: {device_step_rate(meta_file, args.recipe):.0f} "
        "images/s\n"
    )
    print(
        "| DataLoader workers | published, JPEG | published, pixel store | device augmentation, JPEG (its step on "
        "this CPU) |"
    )
    print("|---|---|---|---|")
    for workers in (0, 1, 2):
        rates_now = [
            loader_rate(meta_file, workers, augment_on, pixels)
            for augment_on, pixels in (("workers", False), ("workers", True), ("device", False))
        ]
        print(f"| {workers} | " + " | ".join(f"{rate:.0f}" for rate in rates_now) + " |")
    published = rates["published transforms (augment_on: workers), JPEG"]
    device = rates["device augmentation's worker side (decode + crop), JPEG"]
    print(
        f"\nResNet-50 at {GPU_IMAGES_PER_SECOND} images/s needs about {GPU_IMAGES_PER_SECOND / published:.1f} such "
        "cores "
        f"per GPU with the published transforms, {GPU_IMAGES_PER_SECOND / device:.1f} with device augmentation from "
        "JPEGs."
    )


if __name__ == "__main__":
    main()
