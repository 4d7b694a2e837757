"""Score a trained run on the full test set: metrics.json and ranked predictions.

The run's method gives the leaf scores that rank the classes; each post-hoc chain of the run
(e.g. "crm") re-ranks them from the leaf distribution softmax(scores) and is scored the same
way, under its own key of ``metrics.json`` (``predictions.npz``: ``ranked_<chain>``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .assets import RunAssets
from .data.loaders import make_loader
from .inference import build_model, predict
from .io import save_npz, write_json
from .methods import posthoc_chain
from .metrics import metrics, rank_by_score
from .runs import RunSpec
from .runtime import select_device, set_threads

TOP_K = 20


def evaluate_run(
    *,
    checkpoint: str | Path,
    assets: RunAssets,
    data: str | Path,
    metrics_file: str | Path,
    predictions_file: str | Path,
    threads: int = 1,
    split: str = "test",
) -> dict:
    """Score ``checkpoint`` on ``split`` of the prepared dataset whose ``meta.json`` is ``data``."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    run = RunSpec.from_dict(state["config"])
    training = run.training
    set_threads(threads, training.workers)
    device = select_device(training.device)
    model = build_model(run, assets)
    model.load_state_dict(state["model"])
    model.to(device)
    if training.channels_last:
        model.to(memory_format=torch.channels_last)
    loader = make_loader(
        data, split, train=False, batch_size=run.evaluation.batch_size, device=device,
        drop_last=run.evaluation.drop_last, workers=training.workers,
    )
    scores, targets = predict(model, loader, device, training.precision, training.channels_last)
    scored = scored_predictions(scores, targets, assets, run.posthoc)
    result = {
        "dataset": run.dataset, "variant": run.variant, "seed": run.seed, "method": run.method, "head": run.head,
        "split": split, "checkpoint_epoch": state["epoch"], "drop_last": run.evaluation.drop_last,
        **scored.pop("metrics"),
    }
    save_npz(predictions_file, **scored)
    write_json(metrics_file, result)
    return result


def scored_predictions(scores: np.ndarray, targets: np.ndarray, assets: RunAssets, chains: Sequence[str]) -> dict:
    """Top-k rankings of the base prediction and of every post-hoc chain, and their metrics."""
    D = assets.distances
    k = min(TOP_K, D.shape[0])
    out = {"targets": targets, "ranked": rank_by_score(scores, k)}
    summary = _metrics(out["ranked"], targets, D)
    if chains:
        probabilities = torch.softmax(torch.from_numpy(scores).double(), dim=1).numpy()
    for chain in chains:
        chain_probabilities, chain_scores = probabilities, scores
        for rule in posthoc_chain(chain):
            chain_probabilities, chain_scores = rule.apply(chain_probabilities, chain_scores, assets, None)
        out[f"ranked_{chain}"] = rank_by_score(chain_scores, k)
        summary[chain] = _metrics(out[f"ranked_{chain}"], targets, D)
    out["metrics"] = summary
    return out


def _metrics(ranked: np.ndarray, targets: np.ndarray, D: np.ndarray) -> dict:
    result = metrics(ranked, targets, D)
    result["n_test"] = result.pop("n")
    return result
