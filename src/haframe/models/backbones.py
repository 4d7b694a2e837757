"""Feature extractors returning a spatial map (N x C x h x w) with ``out_channels`` set.

Pooling belongs to the heads (``heads.py``); each backbone's record (``records.py``) names its
constructor here. Pretrained ResNet-50 weights are not fetched
here: ``weights.load_weights`` loads a file the workflow downloaded (README, "The method" 3).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .records import backbone


def _conv_block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class SmallCNN(nn.Module):
    """Stages of ``convs`` conv3x3-BN-ReLU blocks, ``widths`` channels, max-pool between stages.

    Default (``small_cnn``): 32/64/128 channels, two convs per stage, ~0.3M parameters.
    ``tiny_cnn``: 16/32/64 channels, one conv per stage, ~23k parameters: the offline
    miniature's backbone (about 5x faster on a CPU core at 16x16).
    """

    def __init__(self, widths: tuple[int, ...] = (32, 64, 128), convs: int = 2):
        super().__init__()
        layers, cin = [], 3
        for i, w in enumerate(widths):
            for _ in range(convs):
                layers.append(_conv_block(cin, w))
                cin = w
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.out_channels = cin

    def forward(self, x):
        return self.features(x)


# --------------------------------------------------------------------------- WRN-28-8

WRN_BN_MOMENTUM = 0.001  # PyTorch convention; = TF FixMatch's decay 0.999
WRN_LEAKY_SLOPE = 0.1


def wrn_conv_init_(conv: nn.Conv2d) -> nn.Conv2d:
    """N(0, sqrt(2/n)), n = k_h * k_w * out_channels (He init, fan-out), in place.

    The authors apply this to every Conv2d of their WRN models, including the type-II 1x1
    projection of ``HAFrameWideResNet``; call it on ``TypeIIHead.projection`` to match.
    """
    n = conv.kernel_size[0] * conv.kernel_size[1] * conv.out_channels
    with torch.no_grad():
        conv.weight.normal_(0.0, math.sqrt(2.0 / n))
    return conv


class WideBasicBlock(nn.Module):
    """Pre-activation wide residual block: BN-LReLU-conv3x3(stride)-BN-LReLU-conv3x3, + shortcut.

    Shortcut: identity when channels match, else a 1x1 conv (stride), applied to the raw
    input, or to the pre-activated input when ``activate_before_residual`` (first block of
    the first group).

    ``preactivate_shortcut_blocks=False`` reproduces the PyTorch port the authors use
    (``util/arch/wideresnet.py``, BasicBlock.forward): in a channel-changing block *without*
    ``activate_before_residual`` (first block of groups 2 and 3) the first conv reads the
    raw input and the block's first BN-LReLU output is discarded. We then create no such BN
    at all (it would be a dead parameter set: 2 x (128 + 256) = 768 parameters fewer than
    the authors' module). ``True`` gives the original TF FixMatch ``residual`` (first conv
    always on the pre-activated input).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        activate_before_residual: bool = False,
        bn_momentum: float = WRN_BN_MOMENTUM,
        preactivate_shortcut_blocks: bool = False,
    ):
        super().__init__()
        self.equal_in_out = in_channels == out_channels
        if self.equal_in_out and stride != 1:
            raise ValueError("an identity shortcut cannot change resolution")
        self.activate_before_residual = activate_before_residual
        self.preactivate_conv = self.equal_in_out or activate_before_residual or preactivate_shortcut_blocks
        needs_pre = self.preactivate_conv  # else the pre-activation is unused (authors' port)
        self.bn1 = nn.BatchNorm2d(in_channels, momentum=bn_momentum) if needs_pre else None
        self.act1 = nn.LeakyReLU(WRN_LEAKY_SLOPE, inplace=True) if needs_pre else None
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels, momentum=bn_momentum)
        self.act2 = nn.LeakyReLU(WRN_LEAKY_SLOPE, inplace=True)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.shortcut = (
            None if self.equal_in_out else nn.Conv2d(in_channels, out_channels, 1, stride=stride, padding=0, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.act1(self.bn1(x)) if self.bn1 is not None else None
        if self.shortcut is None:
            residual = x
        elif self.activate_before_residual:
            residual = self.shortcut(pre)
        else:
            residual = self.shortcut(x)
        out = self.conv1(pre if self.preactivate_conv else x)
        out = self.conv2(self.act2(self.bn2(out)))
        return residual + out


class WideResNet(nn.Module):
    """FixMatch/MixMatch-style WRN for 32x32 inputs; returns the final BN-LReLU feature map.

    conv3x3(3->16) -> 3 groups of (depth-4)/6 blocks, widths 16k/32k/64k (strides 1/2/2;
    the first block activates before the residual) -> BN -> LeakyReLU(0.1). For 32x32 input
    the map is N x 64k x 8 x 8. No pooling, no classifier. Init: conv N(0, sqrt(2/n)) with
    n = k*k*out_channels, BN weight 1, bias 0.
    """

    def __init__(
        self,
        depth: int = 28,
        widen_factor: int = 8,
        bn_momentum: float = WRN_BN_MOMENTUM,
        preactivate_shortcut_blocks: bool = False,
    ):
        super().__init__()
        if (depth - 4) % 6 != 0:
            raise ValueError(f"WRN depth must be 6n + 4, got {depth}")
        n = (depth - 4) // 6
        widths = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        self.conv1 = nn.Conv2d(3, widths[0], 3, stride=1, padding=1, bias=False)
        groups = []
        for g, stride in enumerate((1, 2, 2)):
            blocks = [
                WideBasicBlock(
                    widths[g] if i == 0 else widths[g + 1],
                    widths[g + 1],
                    stride if i == 0 else 1,
                    activate_before_residual=(g == 0 and i == 0),
                    bn_momentum=bn_momentum,
                    preactivate_shortcut_blocks=preactivate_shortcut_blocks,
                )
                for i in range(n)
            ]
            groups.append(nn.Sequential(*blocks))
        self.block1, self.block2, self.block3 = groups
        self.bn = nn.BatchNorm2d(widths[3], momentum=bn_momentum)
        self.act = nn.LeakyReLU(WRN_LEAKY_SLOPE, inplace=True)
        self.out_channels = widths[3]
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                wrn_conv_init_(m)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block3(self.block2(self.block1(self.conv1(x))))
        return self.act(self.bn(out))


class WideResNet28_8(WideResNet):
    """WRN-28-8 (widths 16/128/256/512), the CIFAR-100 backbone; ``out_channels`` = 512."""

    def __init__(self, **kwargs):
        super().__init__(depth=28, widen_factor=8, **kwargs)


# --------------------------------------------------------------------------- ResNet-50


class ResNet50(nn.Module):
    """torchvision ResNet-50 body without avgpool/fc: N x 2048 x 7 x 7 for 224x224 input.

    Submodule names equal torchvision's (conv1, bn1, layer1..layer4), so a torchvision
    state dict minus ``fc.*`` loads as is. Randomly initialised (torchvision's init);
    load pretrained weights with ``weights.load_weights``.
    """

    def __init__(self):
        super().__init__()
        from torchvision.models import resnet50  # imported here: torchvision is slow to import

        full = resnet50(weights=None)
        self.conv1, self.bn1, self.relu, self.maxpool = full.conv1, full.bn1, full.relu, full.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = full.layer1, full.layer2, full.layer3, full.layer4
        self.out_channels = 2048

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def build_backbone(name: str) -> nn.Module:
    """A new backbone of the record ``name`` (``records.BACKBONES``: its constructor and arguments)."""
    return backbone(name).build()
