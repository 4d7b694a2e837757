"""Feature extractors returning a spatial map (N x C x h x w) with ``out_channels`` set."""

from __future__ import annotations

from torch import nn


def _conv_block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class SmallCNN(nn.Module):
    """A ~0.3M-parameter CNN for 32x32 inputs: the demo and test backbone (CPU-friendly)."""

    def __init__(self, widths: tuple[int, ...] = (32, 64, 128)):
        super().__init__()
        layers, cin = [], 3
        for i, w in enumerate(widths):
            layers += [_conv_block(cin, w), _conv_block(w, w)]
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
            cin = w
        self.features = nn.Sequential(*layers)
        self.out_channels = cin

    def forward(self, x):
        return self.features(x)


BACKBONES = {"small_cnn": SmallCNN}


def build_backbone(name: str) -> nn.Module:
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; known: {sorted(BACKBONES)}")
    return BACKBONES[name]()
