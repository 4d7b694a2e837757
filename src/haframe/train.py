"""The training loop: one run = one (dataset, variant, seed), resumable epoch by epoch.

Declared outputs (``out_dir``): ``checkpoint.pt`` (best validation top-1, holds the config),
``history.csv`` (one row per epoch), ``config.yaml`` (resolved config + provenance).
Resume state (``resume_dir``, never a declared output so Snakemake keeps it after a kill):
``state.pt`` (last completed epoch) and ``best.pt`` (best checkpoint so far), both written
atomically after every epoch. A run whose state is marked complete starts afresh when asked
again (a forced rerun); an incomplete one continues from its last completed epoch.
"""

from __future__ import annotations

import contextlib
import csv
import io as _io
import math
import random
import shutil
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from . import frames
from .config import identity_hash
from .data.loaders import make_loader
from .data.prepared import read_meta
from .io import atomic_path, load_npz, write_text, write_yaml
from .methods import get_method, loss_function
from .models import Classifier, build_model
from .runtime import provenance, seed_everything, select_device, set_threads

HISTORY_FIELDS = (
    "epoch", "lr", "train_loss", "train_top1_error", "val_loss", "val_top1_error",
    "epoch_seconds", "images_per_second",
)


def cosine_lr(base_lr: float, epoch: int, epochs: int) -> float:
    """Per-epoch cosine schedule lr(e) = base/2 * (1 + cos(pi e / E))."""
    return 0.5 * base_lr * (1.0 + math.cos(math.pi * epoch / epochs))


def parameter_groups(model: Classifier, scale: dict[str, float]) -> list[dict]:
    """Backbone (+ the head's 1x1 projection), head transform and classifier groups."""
    groups = {
        "backbone": list(model.backbone.parameters()) + list(model.head.projection.parameters()),
        "head": list(model.head.transform.parameters()),
        "classifier": list(model.classifier.parameters()),
    }
    return [
        {"name": name, "params": [p for p in params if p.requires_grad], "lr_scale": scale[name]}
        for name, params in groups.items()
        if any(p.requires_grad for p in params)
    ]


def autocast(device: torch.device, precision: str):
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def run_frame(run: dict, frame_file: str | Path, num_classes: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(W, S) for a frozen-frame method, drawn with the run's seed; None otherwise."""
    if get_method(run["method"]).classifier != "haframe":
        return None
    solved = load_npz(frame_file)
    dim = run["training"]["feature_dim"] or num_classes
    W = frames.draw_frame(solved["factor"], dim, run["seed"])
    frames.check_frame(W, solved["S"])
    return torch.from_numpy(W).float(), torch.from_numpy(solved["S"]).float()


def model_for_run(run: dict, num_classes: int, frame: torch.Tensor | None) -> Classifier:
    return build_model(
        backbone=run["training"]["backbone"],
        head=run["head"],
        num_classes=num_classes,
        feature_dim=run["training"]["feature_dim"] or num_classes,
        frame=frame,
    )


@torch.no_grad()
def predict_logits(model: Classifier, loader, device: torch.device, precision: str) -> tuple[np.ndarray, np.ndarray]:
    model.eval()
    logits, targets = [], []
    for images, labels in loader.epoch():
        with autocast(device, precision):
            out, _ = model(images)
        logits.append(out.float().cpu())
        targets.append(labels.cpu())
    return torch.cat(logits).numpy(), torch.cat(targets).numpy()


def train_run(
    run: dict,
    *,
    data_dir: str | Path,
    frame_file: str | Path,
    out_dir: str | Path,
    resume_dir: str | Path,
    threads: int = 1,
    log: Callable[[str], None] = print,
) -> dict:
    out_dir, resume_dir = Path(out_dir), Path(resume_dir)
    tr, seed = run["training"], run["seed"]
    set_threads(threads, tr["workers"])
    seed_everything(seed, tr["deterministic"])
    device = select_device(tr["device"])
    K = read_meta(data_dir)["num_classes"]
    train_loader = make_loader(data_dir, "train", train=True, batch_size=tr["batch_size"], device=device, drop_last=True, workers=tr["workers"])
    val_loader = make_loader(
        data_dir, "val", train=False, batch_size=run["evaluation"]["batch_size"], device=device,
        drop_last=run["evaluation"]["drop_last"], workers=tr["workers"],
    )
    frame = run_frame(run, frame_file, K)
    model = model_for_run(run, K, frame[0] if frame else None).to(device)
    loss_fn = loss_function(get_method(run["method"]))
    context = {"frame": frame[0].to(device), "similarity": frame[1].to(device)} if frame else {}
    groups = parameter_groups(model, tr["lr_scale"])
    optimizer = torch.optim.SGD(groups, lr=tr["lr"], momentum=tr["momentum"], weight_decay=tr["weight_decay"])

    identity = identity_hash(run)
    state_file = resume_dir / "state.pt"
    start, best, history = 0, math.inf, []
    best_file = resume_dir / "best.pt"
    if state_file.exists():
        state = torch.load(state_file, map_location=device, weights_only=True)
        if state["identity"] != identity:
            log("resume state belongs to another configuration; starting afresh")
        elif state["complete"]:
            log("previous run of this configuration is complete; starting afresh")
        else:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            start, best, history = state["epoch"] + 1, state["best"], state["history"]
            _set_rng_state(state["rng"])
            log(f"resumed after epoch {start} (best val top-1 error {best:.2f}%)")

    log(f"training {run['dataset']}/{run['variant']} seed {seed} on {device}: "
        f"{train_loader.num_samples} train / {val_loader.num_samples} val images, {tr['epochs']} epochs")
    for epoch in range(start, tr["epochs"]):
        lr = cosine_lr(tr["lr"], epoch, tr["epochs"])
        for group in optimizer.param_groups:
            group["lr"] = lr * group["lr_scale"]
        row = _train_epoch(model, train_loader, optimizer, loss_fn, run, context, device, epoch)
        val_logits, val_targets = predict_logits(model, val_loader, device, tr["precision"])
        row.update(
            epoch=epoch + 1, lr=lr,
            val_loss=float(torch.nn.functional.cross_entropy(torch.from_numpy(val_logits), torch.from_numpy(val_targets))),
            val_top1_error=float(100.0 * (val_logits.argmax(1) != val_targets).mean()),
        )
        history.append(row)
        if row["val_top1_error"] < best:
            best = row["val_top1_error"]
            _save(best_file, {"config": run, "epoch": epoch + 1, "val_top1_error": best, "model": model.state_dict()})
        state = {
            "identity": identity, "epoch": epoch, "best": best, "history": history, "complete": False,
            "model": model.state_dict(), "optimizer": optimizer.state_dict(), "rng": _rng_state(),
        }
        _save(state_file, state)
        log(f"epoch {epoch + 1:3d}/{tr['epochs']}  lr {lr:.4f}  loss {row['train_loss']:.4f}  "
            f"train err {row['train_top1_error']:5.2f}%  val err {row['val_top1_error']:5.2f}%  "
            f"{row['images_per_second']:.0f} img/s")

    with atomic_path(out_dir / "checkpoint.pt") as tmp:
        shutil.copyfile(best_file, tmp)
    write_text(out_dir / "history.csv", _history_csv(history))
    write_yaml(out_dir / "config.yaml", {"run": run, "identity": identity, "provenance": provenance(device)})
    _save(state_file, {**state, "complete": True})
    return {"best_val_top1_error": best, "epochs": len(history)}


def _train_epoch(model, loader, optimizer, loss_fn, run, context, device, epoch) -> dict:
    model.train()
    precision = run["training"]["precision"]
    # running sums stay on the device: no host synchronisation inside the step loop
    loss_sum = torch.zeros((), device=device)
    wrong = torch.zeros((), device=device, dtype=torch.long)
    seen, start = 0, time.perf_counter()
    for images, labels in loader.epoch(run["seed"], epoch):
        with autocast(device, precision):
            logits, features = model(images)
        loss = loss_fn(logits, labels, features=features, **context, **run["params"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.detach() * len(labels)
        wrong += (logits.detach().argmax(1) != labels).sum()
        seen += len(labels)
    train_loss, train_error = float(loss_sum) / seen, 100.0 * float(wrong) / seen  # one sync
    seconds = time.perf_counter() - start
    return {
        "train_loss": train_loss,
        "train_top1_error": train_error,
        "epoch_seconds": seconds,
        "images_per_second": seen / seconds,
    }


def _history_csv(history: list[dict]) -> str:
    buffer = _io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HISTORY_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    return buffer.getvalue()


def _save(path: Path, obj: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _rng_state() -> dict:
    """RNG states as tensors and plain values, so ``torch.load(weights_only=True)`` reads them."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
        "torch": torch.get_rng_state(),
    }


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
