"""One record per backbone and per set of pretrained weights: what the rest of the code knows of
a backbone (its constructor, input size, feature width, parameter count, the head details its
published models use, the weights it accepts), read instead of branching on its name.

Torch-free: the study checks ``training.backbone`` and ``training.pretrained`` against these
records, and the cost estimate reads their sizes, without the training stack. The constructor
is a dotted path, imported when a model is built (``Backbone.build``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


def resolve(path: str) -> Callable:
    """The object that ``"package.module:name"`` names (imported now)."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class WeightsSpec:
    """Pretrained weights: where they come from (downloaded and verified by the workflow) and
    how ``weights.load_weights`` reads them."""

    url: str
    filename: str
    sha256_prefix: str | None  # torchvision names its files by a sha256 prefix, checked after download
    format: str  # one of weights.FORMATS


# Initial backbone weights (README, "The method" 3). PASS publishes no checksum: its file is pinned
# by the download lock file at first download.
WEIGHTS: dict[str, WeightsSpec] = {
    "imagenet1k_v1": WeightsSpec(
        "https://download.pytorch.org/models/resnet50-0676ba61.pth",
        "resnet50-0676ba61.pth",
        "0676ba61",
        "torchvision",
    ),
    "pass_moco_v2_800ep": WeightsSpec(
        "https://www.robots.ox.ac.uk/~vgg/research/pass/pretrained_models/moco_v2_800ep.pth.tar",
        "moco_v2_800ep.pth.tar",
        None,
        "pass_moco",
    ),
}


@dataclass(frozen=True)
class Backbone:
    """A feature extractor (``haframe.models.backbones``) and how its models are built around it."""

    name: str
    constructor: str  # "module:callable", called with ``kwargs``: the nn.Module returning the feature map
    feature_width: int  # channels of the feature map (the module's ``out_channels``)
    parameters: int  # its parameter count (tests/test_cost.py checks it against the module)
    input_size: int | None  # the square input its published models take, in pixels (None: any)
    recipe: str | None  # the transform recipe of its published models (haframe.data.recipes.RECIPES; None: none)
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    weights: tuple[str, ...] = ()  # the pretrained weights (WEIGHTS) it can start from
    # type-I head: a BN -> Linear(C, training.type_I_width) -> BN -> ELU block after a global
    # max-pool (the authors' ResNet-50); False: the pooled map feeds the classifier
    type_I_hidden: bool = False
    type_II_bn_momentum: float = 0.1  # of the type-II head's BN1d after pooling
    type_II_projection_init: str | None = None  # "module:function" that initialises the type-II 1x1 projection in place
    # the backbone's own activation, LeakyReLU(slope), which layers a method adds after it
    # follow (BiLT's coarse levels); None: those layers use ELU
    leaky_relu_slope: float | None = None

    def build(self):
        """A new, randomly initialised backbone module (imports torch)."""
        return resolve(self.constructor)(**self.kwargs)


BACKBONES: dict[str, Backbone] = {
    record.name: record
    for record in (
        Backbone(  # the offline miniature's backbone: 16/32/64 channels, one conv per stage
            "tiny_cnn",
            "haframe.models.backbones:SmallCNN",
            feature_width=64,
            parameters=23_696,
            input_size=None,
            recipe=None,
            kwargs={"widths": (16, 32, 64), "convs": 1},
        ),
        Backbone(
            "small_cnn",
            "haframe.models.backbones:SmallCNN",
            feature_width=128,
            parameters=287_456,
            input_size=None,
            recipe=None,
        ),
        Backbone(  # CIFAR-100, from scratch, as the authors' HAFrameWideResNet
            "wrn28_8",
            "haframe.models.backbones:WideResNet28_8",
            feature_width=512,
            parameters=23_348_944,
            input_size=32,
            recipe="cifar",
            type_II_bn_momentum=0.001,
            type_II_projection_init="haframe.models.backbones:wrn_conv_init_",
            leaky_relu_slope=0.1,
        ),
        Backbone(  # FGVC-Aircraft, iNat19, tieredImageNet-H (each with its own recipe), pretrained
            "resnet50",
            "haframe.models.backbones:ResNet50",
            feature_width=2048,
            parameters=23_508_032,
            input_size=224,
            recipe="imagenet",
            weights=("imagenet1k_v1", "pass_moco_v2_800ep"),
            type_I_hidden=True,
        ),
    )
}


def backbone(name: str) -> Backbone:
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; known: {sorted(BACKBONES)}")
    return BACKBONES[name]
