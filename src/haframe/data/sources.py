"""Where each paper dataset's files come from: URLs and checksums published upstream
(torchvision's URLs and md5s reused as facts). Every source can be replaced per dataset in
the config (``datasets.<name>.sources.<key>: <local path, file:// or http(s) URL>``).

A source without a published sha256 or md5 is pinned by the lock file under the data root on
first download (trust on first use), and verified against it afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    url: str
    filename: str
    sha256: str | None = None
    md5: str | None = None
    extract: bool = True


MBM = "https://raw.githubusercontent.com/fiveai/making-better-mistakes/f0bb7d0a7c4a9c7c9517045a4be4446e9baf824f"

SOURCES: dict[str, dict[str, Source]] = {
    "cifar100": {
        "archive": Source(
            "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz", "cifar-100-python.tar.gz",
            md5="eb9058c3a382ffc7106e4002c42a8d85",
        ),
    },
    "fgvc_aircraft": {
        "archive": Source(  # no published checksum: pinned by the lock file
            "https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/archives/fgvc-aircraft-2013b.tar.gz",
            "fgvc-aircraft-2013b.tar.gz",
        ),
    },
    "inat19": {
        "images": Source(
            "https://ml-inat-competition-datasets.s3.amazonaws.com/2019/train_val2019.tar.gz", "train_val2019.tar.gz",
            md5="c60a6e2962c9b8ccbd458d12c8582644",
        ),
        # archive checksum unpublished (lock file); the lists are verified by content digest
        "splits": Source(f"{MBM}/dataset_splits/splits_inat19.zip", "splits_inat19.zip"),
    },
    "tiered_imagenet": {
        "splits": Source(
            f"{MBM}/dataset_splits/splits_tiered.zip", "splits_tiered.zip",
            sha256="826a0ae5796983cf75f41277a48e5e07b34b2b7fca8347d0def117ff83a5a5de",
        ),
    },
}


def dataset_sources(kind: str, overrides: dict[str, str] | None = None) -> dict[str, Source]:
    """The kind's sources with per-dataset overrides of their location (checksums kept)."""
    sources = dict(SOURCES.get(kind, {}))
    for key, location in (overrides or {}).items():
        if key not in sources:
            raise KeyError(f"{kind} has no source {key!r}; its sources: {sorted(sources)}")
        sources[key] = Source(location, sources[key].filename, sources[key].sha256, sources[key].md5, sources[key].extract)
    return sources


# Initial backbone weights (method.md section 3). torchvision names its files by the sha256
# prefix, checked after download; PASS publishes no checksum (lock file on first download).
WEIGHTS: dict[str, dict] = {
    "imagenet1k_v1": {
        "url": "https://download.pytorch.org/models/resnet50-0676ba61.pth",
        "filename": "resnet50-0676ba61.pth", "sha256_prefix": "0676ba61", "format": "torchvision",
    },
    "pass_moco_v2_800ep": {
        "url": "https://www.robots.ox.ac.uk/~vgg/research/pass/pretrained_models/moco_v2_800ep.pth.tar",
        "filename": "moco_v2_800ep.pth.tar", "sha256_prefix": None, "format": "pass_moco",
    },
}
