"""A run's model, assembled from its RunSpec, and inference over a split: what training
(validation) and evaluation share."""

from __future__ import annotations

import contextlib
from typing import NamedTuple

import numpy as np
import torch

from . import collapse, frames
from .assets import RunAssets
from .hierarchy import TreeShape
from .methods import get_method
from .models.model import Model, build_body
from .runs import ConfigError, RunSpec


def build_model(run: RunSpec, assets: RunAssets) -> Model:
    """backbone -> head -> the run's method classifier, freshly initialised (seed first).
    Values the dataset's tree cannot take raise ConfigError first (the study checks them before
    any job runs only where the tree is known then)."""
    training = run.training
    method = get_method(run.method)
    tree = TreeShape.of(assets.hierarchy, "the hierarchy stage")
    for key, problem in method.tree_problems(run, tree).items():
        where = (
            f"training, datasets.{run.dataset}.training, variants.{run.variant}.training or "
            f"datasets.{run.dataset}.overrides.{run.variant}.training"
            if key.startswith("training.")
            else f"variants.{run.variant} or datasets.{run.dataset}.overrides.{run.variant}"
        )
        raise ConfigError(
            f"{run.name}: {key}: {problem} (dataset {run.dataset!r}: {tree.describe()}); "
            f"the config sets {key.removeprefix('training.')} in {where}"
        )
    backbone, head, dim = build_body(
        training.backbone,
        run.head,
        type_II_width=training.feature_dim or method.output_width(assets),
        type_I_width=training.type_I_width or assets.num_classes,
    )
    return Model(backbone, head, method.classifier(dim, assets, run))


def place_model(model: Model, run: RunSpec, device: torch.device) -> Model:
    """``model`` on ``device`` as the run trains and scores: channels_last and torch.compile
    applied as configured (``nn.Module.compile``: the state dict keeps its keys)."""
    model.to(device)
    if run.training.channels_last:
        model.to(memory_format=torch.channels_last)
    if run.training.compile:
        model.compile(backend=run.training.compile)
    return model


def autocast(device: torch.device, precision: str):
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


class Predictions(NamedTuple):
    scores: np.ndarray  # N x C float32: the method's prediction rule
    targets: np.ndarray  # N: in the classifier's classes (the leaves but for an auxiliary model)
    level_hits: np.ndarray | None  # N x depth int8: the method's own per-depth rule, where it has one


@torch.no_grad()
def predict(model: Model, loader, device: torch.device, precision: str, channels_last: bool = False) -> Predictions:
    """Class scores, targets and the method's own per-depth hits (``MethodClassifier.level_hits``)
    over a whole split, in order."""
    model.eval()
    scores, targets, hits = [], [], []
    for images, labels in loader.epoch():
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with autocast(device, precision):
            outputs, _ = model(images)
        scores.append(model.classifier.class_scores(outputs).float().cpu())
        targets.append(model.classifier.labels(labels).cpu())
        hits.append(model.classifier.level_hits(outputs, labels))
    level_hits = None if hits[0] is None else torch.cat(hits).cpu().numpy()
    return Predictions(torch.cat(scores).numpy(), torch.cat(targets).numpy(), level_hits)


@torch.no_grad()
def collapse_pass(
    model: Model, loader, assets: RunAssets, device: torch.device, precision: str, channels_last: bool = False
) -> dict[str, float | None]:
    """One pass over a non-augmented split: its top-1 error (%) and the neural-collapse
    statistics of the classifier's input (``haframe.collapse.COLUMNS``), over the classes the
    classifier predicts (the HAFrame's target applies to the K leaves only)."""
    model.eval()
    moments, wrong, seen = None, torch.zeros((), device=device, dtype=torch.long), 0
    for images, labels in loader.epoch():
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with autocast(device, precision):
            outputs, features = model(images)
        scores, labels = model.classifier.class_scores(outputs), model.classifier.labels(labels)
        if moments is None:
            moments = collapse.FeatureMoments.zeros(scores.shape[1], features.shape[1], device)
        moments.add(features, labels)
        wrong += (scores.argmax(1) != labels).sum()
        seen += len(labels)
    classes = moments.counts.numel()
    targets = {
        "haframe": torch.from_numpy(assets.frames["haframe"].S).to(device) if classes == assets.num_classes else None,
        "etf": torch.from_numpy(frames.etf_similarity(classes)).to(device),
    }
    weight = model.classifier.linear_weight()
    return {"train_top1_error": 100.0 * float(wrong) / seen, **collapse.statistics(moments, targets, weight)}
