"""Pretrained classifiers evaluated as they are (the config's ``pretrained`` section): the
founding figure of the field (Bertinetto et al., CVPR 2020, Fig. 1: ImageNet models' top-1 error
fell over the years while their mistake severity did not) as one command.

Each model (``models.classifiers``) is scored once on the test split of an ``imagenet1k``
dataset with its own published preprocessing (its weights enum's ``transforms()``), on the
original image files; its scores are saved as a run's are (``evaluate.Scores``), and its
metrics, post-hoc chains included, come from ``haframe.score`` on those scores: the same
functions as every trained run's. The section's checks here are torch-free.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .models.classifiers import CLASSIFIERS, Classifier
from .runs import ConfigError

EVALUATION_KIND = "imagenet1k"  # the kind whose classes are ILSVRC-2012's, in torchvision's index order
OUTPUTS = 1000  # every classifier's logits: ILSVRC-2012's classes


@dataclasses.dataclass(frozen=True)
class PretrainedSection:
    """The config's ``pretrained`` section (workflow/schemas/config.schema.yaml has each key's meaning)."""

    dataset: str
    models: tuple[str, ...]
    posthoc: tuple[str, ...]
    weights: Mapping[str, Mapping[str, str]]  # {model: {source, sha256}}: a copy of its weights elsewhere
    batch_size: int
    device: str
    workers: int

    def weights_source(self, model: str) -> tuple[str, str | None, str | None]:
        """(location, sha256, sha256 prefix) of the model's weights: the published file, checked
        by the prefix of its name, or the config's copy, checked by its full sha256."""
        record = CLASSIFIERS[model]
        override = self.weights.get(model)
        if override:
            return override["source"], override["sha256"], None
        return record.url, None, record.sha256_prefix


def read_pretrained(config: Mapping[str, Any]) -> PretrainedSection | None:
    """The checked ``pretrained`` section, None where the config has none."""
    section = config.get("pretrained")
    if section is None:
        return None
    dataset = section["dataset"]
    datasets = config["datasets"]
    if dataset not in datasets:
        raise ConfigError(
            f"pretrained.dataset: {dataset!r} is not a dataset of the config; its datasets: {sorted(datasets)}"
        )
    if datasets[dataset]["kind"] != EVALUATION_KIND:
        raise ConfigError(
            f"pretrained.dataset: {dataset!r} is of kind {datasets[dataset]['kind']!r}; the pretrained "
            f"classifiers predict ImageNet-1k's classes: a dataset of kind {EVALUATION_KIND!r}"
        )
    if (datasets[dataset].get("hierarchy") or {}).get("class_order", "sorted") != "sorted":
        raise ConfigError(
            f"datasets.{dataset}.hierarchy.class_order: the classifiers' outputs are in ILSVRC's order, "
            "the WordNet ids sorted: expected sorted"
        )
    for i, model in enumerate(section["models"]):
        if model not in CLASSIFIERS:
            raise ConfigError(f"pretrained.models[{i}]: unknown classifier {model!r}; known: {sorted(CLASSIFIERS)}")
    for model in section.get("weights") or {}:
        if model not in section["models"]:
            raise ConfigError(f"pretrained.weights.{model}: not one of pretrained.models")
    posthoc = tuple(section.get("posthoc") or ())
    _check_chains(posthoc)
    return PretrainedSection(
        dataset=dataset,
        models=tuple(section["models"]),
        posthoc=posthoc,
        weights=dict(section.get("weights") or {}),
        batch_size=section["batch_size"],
        device=section["device"],
        workers=section["workers"],
    )


def _check_chains(chains: tuple[str, ...]) -> None:
    from .methods import posthoc_chain

    for i, chain in enumerate(chains):
        try:
            rules = posthoc_chain(chain)
        except KeyError as error:
            raise ConfigError(f"pretrained.posthoc[{i}]: {error.args[0]}") from None
        needing = [rule.name for rule in rules if rule.auxiliary]
        if needing:
            raise ConfigError(
                f"pretrained.posthoc[{i}]: {chain!r}: {needing[0]} needs an auxiliary model trained beside the "
                "classifier; a pretrained classifier has none"
            )


# ---------------------------------------------------------------------- scoring (torch)


def load_classifier(record: Classifier, weights_file: str | Path):
    """The torchvision model of ``record`` with the weights of ``weights_file``, read as plain
    tensors (``weights_only``) and loaded strictly: a file of other weights is named."""
    import torch
    from torchvision import models

    model = models.get_model(record.builder, weights=None)
    try:
        state = torch.load(weights_file, map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
    except (RuntimeError, ValueError, AttributeError) as error:
        raise ValueError(f"{weights_file}: not the weights of {record.weights} ({str(error)[:300]})") from None
    return model.eval()


def score_classifier(
    record: Classifier,
    weights_file: str | Path,
    data: str | Path,
    *,
    batch_size: int,
    device: str,
    workers: int,
    log=lambda message: None,
) -> tuple[np.ndarray, np.ndarray]:
    """(logits N x 1000 float32, labels) of the model on the test split of the prepared
    ``imagenet1k`` dataset whose ``meta.json`` is ``data``, each image through the weights'
    own ``transforms()``; mixed precision (bfloat16) on a GPU."""
    import torch
    from torch.utils.data import DataLoader
    from torchvision.models import get_weight

    from .data.files import read_crc32, read_index
    from .runtime import select_device

    target = select_device(device)
    model = load_classifier(record, weights_file).to(target)
    folder = Path(data).parent
    dataset = _PublishedPreprocessing(
        folder, read_index(folder, "test"), read_crc32(folder, "test"), get_weight(record.weights).transforms()
    )
    # no randomness: a centre crop, in file order
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, pin_memory=target.type == "cuda")
    logits, labels = [], []
    autocast = torch.autocast(target.type, dtype=torch.bfloat16, enabled=target.type == "cuda")
    with torch.inference_mode(), autocast:
        for i, (images, batch_labels) in enumerate(loader):
            logits.append(model(images.to(target, non_blocking=True)).float().cpu())
            labels.append(batch_labels)
            if (i + 1) % 50 == 0:
                log(f"{record.weights}: {(i + 1) * batch_size} of {len(dataset)} images")
    return torch.cat(logits).numpy().astype(np.float32), torch.cat(labels).numpy()


class _PublishedPreprocessing:
    """The test split's images, each decoded (RGB) and passed through ``transform``."""

    def __init__(self, root: Path, rows: list[tuple[str, int]], crc32: list[int | None], transform):
        self.root, self.rows, self.crc32, self.transform = root, rows, crc32, transform

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int):
        from PIL import Image

        from .data.files import checked_bytes, to_rgb

        path, label = self.rows[index]
        with Image.open(io.BytesIO(checked_bytes(self.root / path, self.crc32[index]))) as image:
            return self.transform(to_rgb(image)), label
