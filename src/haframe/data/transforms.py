"""The published per-dataset transforms (README, "The method" 5) on uint8 CHW tensors.

Normalisation happens on the training device after the uint8 batch is transferred, so
workers only decode, resize and augment. The random transforms draw from a generator passed
in (one per image, seeded by (seed, epoch, index)), in the order and with the calls of
torchvision's v2 transforms, so that they give v2's images bit for bit under the same seed
without forking and reseeding the global generator for every image (bench/loader.py).
"""

from __future__ import annotations

import math

from .recipes import (  # noqa: F401
    ARRAY_TRANSFORMS,
    IMAGE_RECIPES,
    IMAGENET_MEAN,
    IMAGENET_STD,
    NORMALISATION,
    RECIPES,
)


class ImageTransform:
    """``transform(image, generator)`` for the images layout, as its recipe's record lists it.
    Evaluation: Resize(size, size). Training, a recipe that resizes first (``fgvc``): Resize +
    RandomCrop(size, padding=4) + RandomHorizontalFlip; else (``inat``, ``imagenet``):
    RandomResizedCrop(size) (scale 0.08-1, ratio 3/4-4/3) + RandomHorizontalFlip.

    ``crop(image, generator)`` is the training transform up to its last resize: the same draws,
    the region that the published transform resizes to size x size (resized first: already that
    size) and whether it flips, for ``device_augment.resize_and_flip`` to finish on the device."""

    def __init__(self, recipe: str, train: bool, size: int = 224):
        if recipe not in IMAGE_RECIPES:
            raise ValueError(f"unknown transform recipe {recipe!r}; known: {', '.join(IMAGE_RECIPES)}")
        self.recipe, self.train, self.size = recipe, train, size
        self.resize_first = RECIPES[recipe].resize_first

    def __call__(self, image, generator=None):
        if not self.train:
            return self.resize(image)
        region, flip = self.crop(image, generator)
        if not self.resize_first:
            region = self.resize(region)
        return _flipped(region) if flip else region

    def crop(self, image, generator):
        """(the region to resize to size x size, flip) under the training transform's draws."""
        import torch

        if self.resize_first:
            region = self._padded_random_crop(self.resize(image), generator)
        else:
            top, left, height, width = self._random_resized_box(*image.shape[-2:], generator)
            region = image[..., top : top + height, left : left + width]
        return region, bool(torch.rand(1, generator=generator) < 0.5)

    def resize(self, image):
        """Resize(size, size); an image of that size already is returned as it is (the resize
        would be the identity: tests/data/test_transforms.py)."""
        from torchvision.transforms.v2 import (
            functional as F,  # torch only when transforming
        )

        if tuple(image.shape[-2:]) == (self.size, self.size):
            return image
        return F.resize(image, [self.size, self.size], antialias=True)

    def _padded_random_crop(self, image, generator, padding: int = 4):
        """v2.RandomCrop(size, padding): zero padding, then the top and the left offset."""
        import torch
        from torchvision.transforms.v2 import functional as F

        image = F.pad(image, [padding] * 4, fill=0)
        top = int(torch.randint(0, image.shape[-2] - self.size + 1, size=(), generator=generator))
        left = int(torch.randint(0, image.shape[-1] - self.size + 1, size=(), generator=generator))
        return F.crop(image, top, left, self.size, self.size)

    @staticmethod
    def _random_resized_box(height: int, width: int, generator, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
        """v2.RandomResizedCrop.make_params: 10 tries at a random area and aspect ratio, then the
        centre (whole image, or the ratio's limit). Returns (top, left, height, width)."""
        import torch

        area = height * width
        log_ratio = torch.log(torch.tensor(ratio))
        for _ in range(10):
            target_area = area * torch.empty(1).uniform_(scale[0], scale[1], generator=generator).item()
            aspect_ratio = torch.exp(torch.empty(1).uniform_(log_ratio[0], log_ratio[1], generator=generator)).item()
            w, h = int(round(math.sqrt(target_area * aspect_ratio))), int(round(math.sqrt(target_area / aspect_ratio)))
            if 0 < w <= width and 0 < h <= height:
                top = torch.randint(0, height - h + 1, size=(1,), generator=generator).item()
                left = torch.randint(0, width - w + 1, size=(1,), generator=generator).item()
                return top, left, h, w
        if width / height < min(ratio):
            w, h = width, int(round(width / min(ratio)))
        elif width / height > max(ratio):
            w, h = int(round(height * max(ratio))), height
        else:
            w, h = width, height
        return (height - h) // 2, (width - w) // 2, h, w


def _flipped(image):
    from torchvision.transforms.v2 import functional as F

    return F.horizontal_flip(image)
