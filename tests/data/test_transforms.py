"""The images layout's transforms give torchvision v2's images bit for bit under the same seed
(they draw the same numbers from a per-image generator instead of the reseeded global one)."""

import pytest
import torch
from torchvision.transforms import v2

from haframe.data.transforms import ImageTransform

V2 = {
    "fgvc": lambda size: v2.Compose(
        [v2.Resize((size, size), antialias=True), v2.RandomCrop(size, padding=4), v2.RandomHorizontalFlip()]
    ),
    "inat": lambda size: v2.Compose([v2.RandomResizedCrop(size, antialias=True), v2.RandomHorizontalFlip()]),
}


@pytest.mark.parametrize("recipe", ["fgvc", "inat", "imagenet"])
@pytest.mark.parametrize(
    "shape", [(3, 64, 64), (3, 50, 90), (3, 120, 30)]
)  # the last: RandomResizedCrop's fallback too
def test_seeded_transforms_equal_torchvision_v2_under_the_same_seed(recipe, shape):
    reference = V2["fgvc" if recipe == "fgvc" else "inat"](32)
    ours = ImageTransform(recipe, train=True, size=32)
    image = torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(7))
    differing = 0
    for seed in range(60):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            expected = reference(image)
        got = ours(image, torch.Generator().manual_seed(seed))
        assert torch.equal(got, expected), seed
        differing += not torch.equal(got, ours(image, torch.Generator().manual_seed(seed + 1000)))
    assert differing > 50  # the seed matters: the comparison is not between two constant outputs


def test_evaluation_is_the_resize_and_an_unknown_recipe_is_refused():
    image = torch.randint(0, 256, (3, 40, 60), dtype=torch.uint8)
    assert torch.equal(ImageTransform("inat", train=False, size=32)(image), v2.Resize((32, 32), antialias=True)(image))
    with pytest.raises(ValueError, match="unknown transform recipe 'cifar'; known: fgvc, inat, imagenet"):
        ImageTransform("cifar", train=True)


def test_resizing_an_image_to_its_own_size_is_the_identity_which_the_transform_skips():
    from torchvision.transforms.v2 import functional as F

    image = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    assert torch.equal(F.resize(image, [32, 32], antialias=True), image)
    assert ImageTransform("inat", train=False, size=32).resize(image) is image
