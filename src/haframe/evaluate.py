"""Score a trained run on the full test set: metrics.json and ranked predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .data.loaders import make_loader
from .data.prepared import read_meta
from .io import save_npz, write_json
from .methods import get_method
from .metrics import crm_rank, metrics, rank_by_score
from .runtime import select_device, set_threads
from .train import model_for_run, predict_logits

TOP_K = 20


def evaluate_run(
    *,
    checkpoint: str | Path,
    data_dir: str | Path,
    distances: str | Path,
    metrics_file: str | Path,
    predictions_file: str | Path,
    threads: int = 1,
    split: str = "test",
) -> dict:
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    run = state["config"]
    set_threads(threads, run["training"]["workers"])
    device = select_device(run["training"]["device"])
    meta = read_meta(data_dir)
    K = meta["num_classes"]
    D = np.load(distances)
    frozen = get_method(run["method"]).classifier != "learnable"
    dim = run["training"]["feature_dim"] or K
    model = model_for_run(run, K, torch.zeros(K, dim) if frozen else None)
    model.load_state_dict(state["model"])
    model.to(device)
    loader = make_loader(
        data_dir, split, train=False, batch_size=run["evaluation"]["batch_size"], device=device,
        drop_last=run["evaluation"]["drop_last"], workers=run["training"]["workers"],
    )
    logits, targets = predict_logits(model, loader, device, run["training"]["precision"])
    scores = scored_predictions(logits, targets, D, with_crm=run["crm"])
    result = {
        "dataset": run["dataset"], "variant": run["variant"], "seed": run["seed"],
        "split": split, "checkpoint_epoch": state["epoch"], "drop_last": run["evaluation"]["drop_last"],
        **scores.pop("metrics"),
    }
    save_npz(predictions_file, **scores)
    write_json(metrics_file, result)
    return result


def scored_predictions(logits: np.ndarray, targets: np.ndarray, D: np.ndarray, with_crm: bool) -> dict:
    """Top-k rankings (base and, optionally, CRM) and their metrics."""
    k = min(TOP_K, D.shape[0])
    ranked = rank_by_score(logits, k)
    out = {"targets": targets, "ranked": ranked}
    summary = metrics(ranked, targets, D)
    summary["n_test"] = summary.pop("n")
    if with_crm:
        probs = torch.softmax(torch.from_numpy(logits).double(), dim=1).numpy()
        out["ranked_crm"] = crm_rank(probs, D, k)
        crm = metrics(out["ranked_crm"], targets, D)
        crm["n_test"] = crm.pop("n")
        summary["crm"] = crm
    out["metrics"] = summary
    return out
