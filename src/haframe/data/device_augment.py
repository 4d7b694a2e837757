"""The last step of the images layout's training transforms, batched on the training device
(``training.augment_on: device``): DataLoader workers decode and crop (``ImageTransform.crop``,
the published draws), the device resizes every crop to size x size and flips it.

The resize is the published one's filter, antialiased bilinear (torchvision's, after
Pillow's): output pixel i of a crop of length n reads the crop at centre c = (i + 0.5) n / size
with the triangle weights max(0, 1 - |j + 0.5 - c| / s), s = max(1, n / size), normalised. It
runs as two batched matrix products in float32, where the published uint8 kernel rounds to
integers after each pass: the images differ by rounding (at most 1 grey level on a crop that is
enlarged, tests/data/test_data_paths.py). A crop of exactly size x size (fgvc's padded crop) is
copied exactly.
"""

from __future__ import annotations

import torch


def collate_crops(samples: list[tuple[torch.Tensor, bool, int]]) -> tuple[torch.Tensor, ...]:
    """DataLoader collation of (uint8 crop C x h x w, flip, label) samples: the crops at the
    top-left of one zero canvas as large as the largest, and their heights, widths, flips, labels."""
    heights = torch.tensor([crop.shape[-2] for crop, _, _ in samples])
    widths = torch.tensor([crop.shape[-1] for crop, _, _ in samples])
    canvas = torch.zeros(
        len(samples),
        samples[0][0].shape[0],
        int(heights.max()),
        int(widths.max()),
        dtype=torch.uint8,
        device=samples[0][0].device,
    )  # the crops' device: a DataLoader's CPU, or a GPU that decoded them
    for slot, (crop, _, _) in zip(canvas, samples):
        slot[:, : crop.shape[-2], : crop.shape[-1]] = crop
    flips = torch.tensor([flip for _, flip, _ in samples])
    labels = torch.tensor([label for _, _, label in samples])
    return canvas, heights, widths, flips, labels


def resize_and_flip(
    canvas: torch.Tensor, heights: torch.Tensor, widths: torch.Tensor, flips: torch.Tensor, size: int
) -> torch.Tensor:
    """float32 B x C x size x size: each crop of ``canvas`` (its top-left heights x widths)
    resized to size x size, then mirrored left-right where ``flips``."""
    device = canvas.device
    rows = _resize_weights(heights.to(device), size, canvas.shape[-2])
    columns = _resize_weights(widths.to(device), size, canvas.shape[-1])
    columns = torch.where(flips.to(device)[:, None, None], columns.flip(1), columns)
    images = canvas.float()
    return rows[:, None] @ (images @ columns.transpose(1, 2)[:, None])


def _resize_weights(lengths: torch.Tensor, size: int, canvas_length: int) -> torch.Tensor:
    """B x size x canvas_length: row i holds the weights of output pixel i over the crop's
    pixels (zero beyond each crop's length)."""
    lengths = lengths.to(torch.float64)[:, None, None]
    scale = lengths / size
    support = scale.clamp(min=1.0)  # the triangle widens when the crop shrinks: the antialiasing
    centre = (torch.arange(size, dtype=torch.float64, device=lengths.device)[None, :, None] + 0.5) * scale
    source = torch.arange(canvas_length, dtype=torch.float64, device=lengths.device)[None, None, :]
    weights = (1 - ((source + 0.5 - centre) / support).abs()).clamp(min=0) * (source < lengths)
    return (weights / weights.sum(-1, keepdim=True)).float()
