"""One record per transform recipe (its operations, the layout it applies to, the image sizes it
suits, its normalisation, how it crops), read instead of branching on the recipe's name:
``transforms.ImageTransform`` and ``loaders.ArrayLoader`` apply them, the pixel store, the
data-path notes and the folder kind's checks read them. Torch-free, without even a local torch
import (``prepared.py`` reads them in the torch-free stages).
"""

from __future__ import annotations

from dataclasses import dataclass

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Recipe:
    """One transform recipe: its operations, the layout it applies to, the sizes it suits, its
    normalisation, and how it crops (read instead of branching on its name)."""

    name: str
    layout: str  # "arrays" (loaders.ArrayLoader, batched on the device) or "images" (ImageTransform, in the workers)
    train: tuple[str, ...]  # the training operations, in order
    eval: tuple[str, ...]  # the evaluation operations
    sizes: tuple[int, ...]  # the square input sizes its published models take (what it suits; () any)
    normalisation: tuple[tuple[float, ...], tuple[float, ...]] | None  # published (mean, std); None: measured
    # Resize(size, size) before a padded RandomCrop(size): every crop is size x size (bounded, so
    # training.augment_on: device only flips it), and a pixel store keeps the resized image;
    # False: RandomResizedCrop from the image as it is (a pixel store needs images of the input size)
    resize_first: bool = False


_FLIP = "RandomHorizontalFlip"
_RESIZED_CROP = ("RandomResizedCrop(size, scale=(0.08, 1), ratio=(3/4, 4/3))", _FLIP)
RECIPES: dict[str, Recipe] = {
    recipe.name: recipe
    for recipe in (
        Recipe(
            "cifar",
            "arrays",
            ("reflect-pad 4", "RandomCrop(size)", _FLIP),
            (),
            (32,),
            ((0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761)),
        ),
        Recipe("none", "arrays", (), (), (), None),
        Recipe(
            "fgvc",
            "images",
            ("Resize(size, size)", "RandomCrop(size, padding=4)", _FLIP),
            ("Resize(size, size)",),
            (224,),
            ((0.4880712, 0.5191783, 0.54383063), (0.21482512, 0.20683703, 0.23937796)),
            resize_first=True,
        ),
        Recipe(
            "inat",
            "images",
            _RESIZED_CROP,
            ("Resize(size, size)",),
            (224,),
            ((0.454, 0.474, 0.367), (0.237, 0.230, 0.249)),
        ),
        Recipe("imagenet", "images", _RESIZED_CROP, ("Resize(size, size)",), (224,), (IMAGENET_MEAN, IMAGENET_STD)),
    )
}

ARRAY_TRANSFORMS = tuple(name for name, r in RECIPES.items() if r.layout == "arrays")  # loaders.ArrayLoader's
IMAGE_RECIPES = tuple(name for name, r in RECIPES.items() if r.layout == "images")
# recipe -> (mean, std) of the published normalisation
NORMALISATION = {name: r.normalisation for name, r in RECIPES.items() if r.normalisation is not None}
