"""Training-loader throughput on generated 224 px JPEGs (decode + published augmentation),
per DataLoader worker count, and the CPU cores per GPU it implies for ResNet-50 at
2,500 images/s; first, per image in one process, the earlier path (torchvision v2 transforms
under a forked, reseeded global generator: the same images) against the current one.
Prints Markdown tables.

    .venv/bin/python bench/loader.py [--images 1024] [--recipe inat]
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from haframe.data.files import write_index
from haframe.data.loaders import ImageFolderSplit, ImageLoader
from haframe.data.prepared import write_meta
from haframe.data.transforms import NORMALISATION

GPU_IMAGES_PER_SECOND = 2500  # ResNet-50 training on one modern GPU, the figure to feed


def make_dataset(root: Path, n: int, size: int = 224) -> None:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        # smooth random content compresses like a photo, unlike white noise
        small = rng.integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8)
        image = Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC)
        path = root / "images" / "train" / f"{i:05d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, quality=95)
        rows.append((path.relative_to(root).as_posix(), i % 10))
    write_index(root, "train", rows)
    mean, std = NORMALISATION["inat"]
    write_meta(root, [f"c{i}" for i in range(10)], layout="images", counts={"train": n}, mean=list(mean), std=list(std), transform="inat")


def per_image_rates(root: Path, recipe: str, repeats: int = 3) -> tuple[float, float]:
    """Images/s of decode + augmentation, one process, no DataLoader: (earlier path, current)."""
    from torchvision.transforms import v2

    split = ImageFolderSplit(root, "train", recipe, train=True)
    earlier = v2.Compose([v2.RandomResizedCrop(224, antialias=True), v2.RandomHorizontalFlip()]) if recipe != "fgvc" else \
        v2.Compose([v2.Resize((224, 224), antialias=True), v2.RandomCrop(224, padding=4), v2.RandomHorizontalFlip()])

    def earlier_item(index):
        path, _ = split.rows[index]
        with Image.open(root / path) as pil:
            image = torch.from_numpy(np.array(pil.convert("RGB"))).permute(2, 0, 1)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(index)
            return earlier(image)

    rates = []
    for item in (earlier_item, split.__getitem__):
        best = 0.0
        for _ in range(repeats):
            start = time.perf_counter()
            for index in range(len(split)):
                item(index)
            best = max(best, len(split) / (time.perf_counter() - start))
        rates.append(best)
    return rates[0], rates[1]


def images_per_second(root: Path, recipe: str, workers: int, batch_size: int = 64) -> float:
    loader = ImageLoader(root, "train", recipe=recipe, batch_size=batch_size, mean=[0.5] * 3, std=[0.25] * 3,
                         device=torch.device("cpu"), train=True, drop_last=True, workers=workers)
    next(iter(loader.epoch(0, 0)))  # start-up (worker spawn) is not throughput
    start, seen = time.perf_counter(), 0
    for images, _ in loader.epoch(0, 1):
        seen += len(images)
    return seen / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=1024)
    parser.add_argument("--recipe", default="inat")
    args = parser.parse_args()
    torch.set_num_threads(1)
    root = Path(tempfile.mkdtemp())
    make_dataset(root, args.images)
    print(f"{args.images} generated 224 px JPEGs, recipe {args.recipe!r} (decode + RandomResizedCrop + flip), "
          f"{torch.get_num_threads()} torch thread in the main process\n")
    earlier, current = per_image_rates(root, args.recipe)
    print("| path, one process | images/s |\n|---|---|")
    print(f"| earlier: v2 transforms, global generator forked and reseeded per image | {earlier:.0f} |")
    print(f"| current: the same draws from a per-image generator | {current:.0f} ({current / earlier:.2f}x) |\n")
    print("| workers | images/s | images/s per worker |")
    print("|---|---|---|")
    rates = {}
    for workers in (0, 1, 2):
        rates[workers] = images_per_second(root, args.recipe, workers)
        print(f"| {workers} | {rates[workers]:.0f} | {rates[workers] / max(workers, 1):.0f} |")
    # one core doing everything (0 workers) is the pessimistic figure, one worker beside an
    # idle main process the optimistic one
    low, high = sorted((GPU_IMAGES_PER_SECOND / rates[1], GPU_IMAGES_PER_SECOND / rates[0]))
    print(f"\nResNet-50 at {GPU_IMAGES_PER_SECOND} images/s needs {low:.1f} to {high:.1f} such CPU cores "
          "per GPU for decoding and augmentation alone.")


if __name__ == "__main__":
    main()
