"""End-to-end training throughput on one GPU, loader included, with only torch, torchvision,
numpy and pillow (the device machine's own, older than the project's pins): ResNet-50 at 224 px
from JPEG files on disk, generated here, and WRN-28-8 on CIFAR-shaped arrays.

ResNet-50 paths, each timed over --steps steps at batch 256 after warm-up steps:
  cpu_loader  the published path: DataLoader workers decode (PIL) and augment
              (RandomResizedCrop + flip) each image, uint8 batches to the GPU
  device_augment  the project's training.augment_on: device: workers decode (PIL) and crop with
              the published draws (haframe.data.transforms), the GPU resizes and flips
              (haframe.data.device_augment)
  gpu_decode  the file bytes read by workers, decoded on the GPU (torchvision.io.decode_jpeg,
              device="cuda"), cropped there with the published draws and resized and flipped
              as one batch (haframe.data.device_augment; on a CPU, with --smoke: in the main process)
  model_only  one fixed batch already on the GPU: the model's ceiling
in fp32, fast (bf16 autocast + channels_last) and fast + torch.compile. Prints JSON lines and
writes them to $OUT/gpu_check.jsonl (or --out).

    python bench/gpu_check.py                     # on the GPU machine
    python bench/gpu_check.py --smoke             # on a CPU: tiny sizes, checks the script runs
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import PIL
import torch
import torchvision
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # the project's plain-torch modules
from haframe.data.device_augment import collate_crops, resize_and_flip  # noqa: E402
from haframe.data.transforms import ImageTransform  # noqa: E402
from haframe.models.backbones import build_backbone  # noqa: E402

MEAN = torch.tensor([0.454, 0.474, 0.367]).view(1, 3, 1, 1) * 255  # iNat19's normalisation
STD = torch.tensor([0.237, 0.230, 0.249]).view(1, 3, 1, 1) * 255


def write_jpegs(root: Path, count: int, size: int) -> list[Path]:
    """Photo-like JPEGs (smooth random content) at ``size`` px, quality 90."""
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        small = rng.integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8)
        path = root / f"{i:05d}.jpg"
        Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC).save(path, quality=90)
        paths.append(path)
    return paths


class DecodedImages(Dataset):
    """The published path: decode and augment in the worker."""

    def __init__(self, paths, size):
        self.paths = paths
        self.transform = v2.Compose([v2.RandomResizedCrop(size, antialias=True), v2.RandomHorizontalFlip()])

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        with Image.open(self.paths[index]) as pil:
            image = torch.from_numpy(np.array(pil.convert("RGB"))).permute(2, 0, 1)
        return self.transform(image), index % 1000


class Crops(Dataset):
    """The device-augmentation path: decode and crop in the worker, resize and flip on the GPU."""

    def __init__(self, paths, size):
        self.paths = paths
        self.transform = ImageTransform("inat", train=True, size=size)

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        with Image.open(self.paths[index]) as pil:
            image = torch.from_numpy(np.array(pil.convert("RGB"))).permute(2, 0, 1)
        crop, flip = self.transform.crop(image, torch.Generator().manual_seed(index))
        return crop.contiguous(), flip, index % 1000


class FileBytes(Dataset):
    """The GPU-decode path: workers only read the files (plain bytes: no shared-memory tensors)."""

    def __init__(self, paths):
        self.paths = paths

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        return self.paths[index].read_bytes(), index % 1000


def keep_lists(batch):
    return [item[0] for item in batch], torch.tensor([item[1] for item in batch])


def gpu_crops(images: list[torch.Tensor], transform: ImageTransform, generator: torch.Generator) -> torch.Tensor:
    """The published RandomResizedCrop + flip draws (one generator for the batch) on images
    decoded on the GPU, resized and flipped there: float N x 3 x size x size."""
    canvas, heights, widths, flips, _ = collate_crops([(*transform.crop(image, generator), 0) for image in images])
    return resize_and_flip(canvas, heights, widths, flips, transform.size)


def resnet50_steps(args, loader_kind: str, profile: str, paths: list[Path], device: torch.device) -> dict:
    torch.manual_seed(0)
    model = torchvision.models.resnet50(num_classes=1000).to(device)
    fast = profile != "fp32"
    if fast:
        model = model.to(memory_format=torch.channels_last)
    step_model = torch.compile(model) if profile == "fast+compile" else model
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    mean, std = MEAN.to(device), STD.to(device)
    generator = torch.Generator().manual_seed(0)

    def batches():
        if loader_kind == "model_only":
            images = torch.randint(0, 256, (args.batch, 3, args.size, args.size), dtype=torch.uint8, device=device)
            labels = torch.randint(0, 1000, (args.batch,), device=device)
            while True:
                yield images, labels
        dataset = {"cpu_loader": DecodedImages, "device_augment": Crops}.get(loader_kind, lambda p, s: FileBytes(p))(
            paths, args.size
        )
        collate = {"cpu_loader": None, "device_augment": collate_crops}.get(loader_kind, keep_lists)
        loader = DataLoader(
            dataset,
            batch_size=args.batch,
            shuffle=True,
            num_workers=args.workers,
            drop_last=True,
            pin_memory=device.type == "cuda",
            persistent_workers=True,
            prefetch_factor=4,
            collate_fn=collate,
        )
        while True:
            for batch in loader:
                if loader_kind == "device_augment":
                    canvas, heights, widths, flips, labels = (part.to(device, non_blocking=True) for part in batch)
                    yield resize_and_flip(canvas, heights, widths, flips, args.size), labels
                    continue
                images, labels = batch
                if loader_kind == "gpu_decode":
                    encoded = [torch.frombuffer(bytearray(data), dtype=torch.uint8) for data in images]
                    decoded = torchvision.io.decode_jpeg(encoded, device=device)
                    images = gpu_crops(decoded, ImageTransform("inat", train=True, size=args.size), generator)
                yield images.to(device, non_blocking=True), labels.to(device, non_blocking=True)

    stream = batches()

    def step():
        images, labels = next(stream)
        images = (images.float() - mean) / std
        if fast:
            images = images.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=fast):
            loss = nn.functional.cross_entropy(step_model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(args.warmup):
        step()
    synchronise(device)
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    synchronise(device)
    seconds = time.perf_counter() - start
    return {
        "model": "resnet50",
        "input": args.size,
        "batch": args.batch,
        "loader": loader_kind,
        "profile": profile,
        "workers": args.workers if loader_kind != "model_only" else 0,
        "images_per_second": round(args.steps * args.batch / seconds, 1),
    }


def wrn_steps(args, profile: str, device: torch.device) -> dict:
    """WRN-28-8 (the project's) on CIFAR-shaped uint8 arrays on the GPU, the arrays layout's path:
    batched reflect-pad 4 + random crop + flip on the device, batch --wrn-batch."""
    torch.manual_seed(0)
    backbone = build_backbone("wrn28_8")
    model = nn.Sequential(backbone, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(backbone.out_channels, 100)).to(
        device
    )
    fast = profile != "fp32"
    if fast:
        model = model.to(memory_format=torch.channels_last)
    step_model = torch.compile(model) if profile == "fast+compile" else model
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    batch = args.wrn_batch
    data = torch.randint(0, 256, (50 * batch, 3, 32, 32), dtype=torch.uint8, device=device)
    labels = torch.randint(0, 100, (len(data),), device=device)

    def step(i):
        index = torch.randint(0, len(data), (batch,), device=device)
        images = nn.functional.pad(data[index].float(), (4, 4, 4, 4), mode="reflect")
        dy, dx = (int(v) for v in torch.randint(0, 9, (2,)))
        images = images[:, :, dy : dy + 32, dx : dx + 32]
        images = torch.where(torch.rand(batch, 1, 1, 1, device=device) < 0.5, images.flip(-1), images) / 255
        if fast:
            images = images.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=fast):
            loss = nn.functional.cross_entropy(step_model(images), labels[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for i in range(args.warmup):
        step(i)
    synchronise(device)
    start = time.perf_counter()
    for i in range(args.steps):
        step(i)
    synchronise(device)
    return {
        "model": "wrn28_8",
        "input": 32,
        "batch": batch,
        "loader": "arrays_on_device",
        "profile": profile,
        "images_per_second": round(args.steps * batch / (time.perf_counter() - start), 1),
    }


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="CPU, tiny sizes: checks that the script runs")
    parser.add_argument("--images", type=int, default=4096)
    parser.add_argument("--source-size", type=int, default=320, help="px of the generated JPEGs")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=8)
    parser.add_argument("--wrn-batch", type=int, default=128)
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 2))
    parser.add_argument("--out", default=os.path.join(os.environ.get("OUT", "."), "gpu_check.jsonl"))
    args = parser.parse_args()
    if args.smoke:
        args.images, args.source_size, args.size, args.batch, args.steps, args.warmup, args.workers, args.wrn_batch = (
            8,
            48,
            32,
            4,
            1,
            1,
            1,
            4,
        )
    device = torch.device("cuda" if torch.cuda.is_available() and not args.smoke else "cpu")
    torch.backends.cudnn.benchmark = True
    environment = {
        "device": torch.cuda.get_device_name(0) if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "pillow": PIL.__version__,
        "cuda": torch.version.cuda,
        "cpus": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d"),
    }
    rows = [environment]
    print(json.dumps(environment), flush=True)
    paths = write_jpegs(Path(tempfile.mkdtemp()), args.images, args.source_size)
    profiles = ("fp32", "fast") if args.smoke else ("fp32", "fast", "fast+compile")
    plan = (
        [("model_only", p) for p in profiles]
        + [("cpu_loader", p) for p in ("fp32", "fast")]
        + [("device_augment", "fast"), ("gpu_decode", "fast")]
    )
    for loader_kind, profile in plan:
        rows.append(resnet50_steps(args, loader_kind, profile, paths, device))
        print(json.dumps(rows[-1]), flush=True)
    for profile in profiles:
        rows.append(wrn_steps(args, profile, device))
        print(json.dumps(rows[-1]), flush=True)
    Path(args.out).write_text("".join(json.dumps(row) + "\n" for row in rows))


if __name__ == "__main__":
    main()
