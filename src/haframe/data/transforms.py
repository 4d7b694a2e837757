"""The published per-dataset transforms (README, "The method" 5) on uint8 CHW tensors.

Normalisation happens on the training device after the uint8 batch is transferred, so
workers only decode, resize and augment.
"""

from __future__ import annotations

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

ARRAY_TRANSFORMS = ("cifar", "none")  # training augmentation of the arrays layout (loaders.ArrayLoader)

# recipe -> (mean, std) of the published normalisation
NORMALISATION = {
    "cifar": ((0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761)),
    "fgvc": ((0.4880712, 0.5191783, 0.54383063), (0.21482512, 0.20683703, 0.23937796)),
    "inat": ((0.454, 0.474, 0.367), (0.237, 0.230, 0.249)),
    "imagenet": (IMAGENET_MEAN, IMAGENET_STD),
}


def image_transform(recipe: str, train: bool, size: int = 224):
    """Decode-side transform for the images layout: ``fgvc``, ``inat`` or ``imagenet``."""
    from torchvision.transforms import v2  # imported here: the constants above need no torch

    resize = v2.Resize((size, size), antialias=True)
    if not train:
        return resize
    if recipe == "fgvc":
        return v2.Compose([resize, v2.RandomCrop(size, padding=4), v2.RandomHorizontalFlip()])
    if recipe in ("inat", "imagenet"):
        return v2.Compose([v2.RandomResizedCrop(size, antialias=True), v2.RandomHorizontalFlip()])
    raise ValueError(f"unknown transform recipe {recipe!r}; known: fgvc, inat, imagenet")
