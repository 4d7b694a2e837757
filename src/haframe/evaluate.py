"""Score a trained run on the full test set: metrics.json and ranked predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .data.loaders import make_loader
from .io import save_npz, write_json
from .metrics import crm_rank, metrics, rank_by_score
from .objectives import Objective
from .runtime import select_device, set_threads
from .train import model_for_run, predict_logits

TOP_K = 20


def evaluate_run(
    *,
    checkpoint: str | Path,
    data_dir: str | Path,
    hierarchy_dir: str | Path,
    frames_dir: str | Path,
    metrics_file: str | Path,
    predictions_file: str | Path,
    threads: int = 1,
    split: str = "test",
) -> dict:
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    run = state["config"]
    tr = run["training"]
    set_threads(threads, tr["workers"])
    device = select_device(tr["device"])
    objective = Objective(run, hierarchy_dir, frames_dir, device)
    model = model_for_run(run, objective)
    model.load_state_dict(state["model"])
    model.to(device)
    if tr["channels_last"]:
        model.to(memory_format=torch.channels_last)
    loader = make_loader(
        data_dir, split, train=False, batch_size=run["evaluation"]["batch_size"], device=device,
        drop_last=run["evaluation"]["drop_last"], workers=tr["workers"],
    )
    logits, targets = predict_logits(model, loader, device, tr["precision"], tr["channels_last"])
    D = np.load(Path(hierarchy_dir) / "distances.npy")
    scores = scored_predictions(logits, targets, D, with_crm=run["crm"])
    result = {
        "dataset": run["dataset"], "variant": run["variant"], "seed": run["seed"],
        "method": run["method"], "head": run["head"], "split": split, "checkpoint_epoch": state["epoch"], "drop_last": run["evaluation"]["drop_last"],
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
