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
import os
import random
import shutil
import signal
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .config import identity_hash
from .data.loaders import make_loader
from .data.prepared import read_meta
from .io import atomic_path, write_text, write_yaml
from .models import Classifier, build_model, leaf_logits
from .models.weights import load_weights
from .objectives import Objective
from .runtime import provenance, seed_everything, select_device, set_threads

HISTORY_FIELDS = (
    "epoch", "lr", "train_loss", "train_top1_error", "val_loss", "val_top1_error",
    "epoch_seconds", "images_per_second",
)
FAULT_ENV = "HAFRAME_FAULT"  # test hook: "kill_while_saving:<epoch>" SIGKILLs mid-write


def cosine_lr(base_lr: float, epoch: int, epochs: int) -> float:
    """Per-epoch cosine schedule lr(e) = base/2 * (1 + cos(pi e / E))."""
    return 0.5 * base_lr * (1.0 + math.cos(math.pi * epoch / epochs))


def parameter_groups(model: Classifier, scale: dict[str, float], head: str) -> list[dict]:
    """Backbone (+ the type-II 1x1 projection), head and classifier groups (method.md 5).

    ``scale['type_II_head']``, when given, replaces ``scale['head']`` for type-II heads.
    """
    head_scale = scale.get("type_II_head", scale["head"]) if head == "II" else scale["head"]
    groups = {
        "backbone": (list(model.backbone.parameters()) + list(model.head.projection.parameters()), scale["backbone"]),
        "head": (list(model.head.transform.parameters()), head_scale),
        "classifier": (list(model.classifier.parameters()), scale["classifier"]),
    }
    return [
        {"name": name, "params": [p for p in params if p.requires_grad], "lr_scale": factor}
        for name, (params, factor) in groups.items()
        if any(p.requires_grad for p in params)
    ]


def autocast(device: torch.device, precision: str):
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def model_for_run(run: dict, objective: Objective) -> Classifier:
    tr = run["training"]
    return build_model(
        backbone=tr["backbone"], head=run["head"], num_classes=objective.num_classes,
        feature_dim=tr["feature_dim"], classifier=objective.method.classifier, frame=objective.frame,
        level_sizes=objective.level_sizes, type_I_width=tr["type_I_width"] or objective.num_classes,
    )


@torch.no_grad()
def predict_logits(model: Classifier, loader, device: torch.device, precision: str, channels_last: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Leaf-level logits and targets over a whole split, in order."""
    model.eval()
    logits, targets = [], []
    for images, labels in loader.epoch():
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with autocast(device, precision):
            outputs, _ = model(images)
        logits.append(leaf_logits(outputs).float().cpu())
        targets.append(labels.cpu())
    return torch.cat(logits).numpy(), torch.cat(targets).numpy()


def train_run(
    run: dict,
    *,
    data_dir: str | Path,
    hierarchy_dir: str | Path,
    frames_dir: str | Path,
    out_dir: str | Path,
    resume_dir: str | Path,
    weights_file: str | Path | None = None,
    threads: int = 1,
    log: Callable[[str], None] = print,
) -> dict:
    out_dir, resume_dir = Path(out_dir), Path(resume_dir)
    tr, seed = run["training"], run["seed"]
    set_threads(threads, tr["workers"])
    seed_everything(seed, tr["deterministic"])
    device = select_device(tr["device"])
    if read_meta(data_dir)["num_classes"] != np.load(Path(hierarchy_dir) / "levels.npy").shape[0]:
        raise ValueError(f"{data_dir}: class count differs from the hierarchy's")
    train_loader = make_loader(data_dir, "train", train=True, batch_size=tr["batch_size"], device=device, drop_last=True, workers=tr["workers"])
    val_loader = make_loader(
        data_dir, "val", train=False, batch_size=run["evaluation"]["batch_size"], device=device,
        drop_last=run["evaluation"]["drop_last"], workers=tr["workers"],
    )
    objective = Objective(run, hierarchy_dir, frames_dir, device)
    model = model_for_run(run, objective)
    if tr["pretrained"]:
        load_weights(model.backbone, weights_file, tr["pretrained"])
    model.to(device)
    if tr["channels_last"]:
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(
        parameter_groups(model, tr["lr_scale"], run["head"]), lr=tr["lr"], momentum=tr["momentum"], weight_decay=tr["weight_decay"],
    )

    identity = identity_hash(run)
    state_file, best_file = resume_dir / "state.pt", resume_dir / "best.pt"
    start, best, history, state = 0, math.inf, [], None
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
        row = _train_epoch(model, train_loader, optimizer, objective, run, device, epoch)
        val_logits, val_targets = predict_logits(model, val_loader, device, tr["precision"], tr["channels_last"])
        row.update(
            epoch=epoch + 1, lr=lr,
            val_loss=float(torch.nn.functional.cross_entropy(torch.from_numpy(val_logits), torch.from_numpy(val_targets))),
            val_top1_error=float(100.0 * (val_logits.argmax(1) != val_targets).mean()),
        )
        history.append(row)
        if row["val_top1_error"] < best:
            best = row["val_top1_error"]
            _save(best_file, {"config": run, "epoch": epoch + 1, "val_top1_error": best, "model": model.state_dict()}, epoch)
        state = {
            "identity": identity, "epoch": epoch, "best": best, "history": history, "complete": False,
            "model": model.state_dict(), "optimizer": optimizer.state_dict(), "rng": _rng_state(),
        }
        _save(state_file, state, epoch)
        log(f"epoch {epoch + 1:3d}/{tr['epochs']}  lr {lr:.4f}  loss {row['train_loss']:.4f}  "
            f"train err {row['train_top1_error']:5.2f}%  val err {row['val_top1_error']:5.2f}%  "
            f"{row['images_per_second']:.0f} img/s")

    with atomic_path(out_dir / "checkpoint.pt") as tmp:
        shutil.copyfile(best_file, tmp)
    write_text(out_dir / "history.csv", _history_csv(history))
    write_yaml(out_dir / "config.yaml", {"run": run, "identity": identity, "provenance": provenance(device)})
    _save(state_file, {**state, "complete": True}, None)
    return {"best_val_top1_error": best, "epochs": len(history)}


def _train_epoch(model, loader, optimizer, objective, run, device, epoch) -> dict:
    model.train()
    tr = run["training"]
    shuffle_rng = random.Random(run["seed"] * 1_000_003 + epoch)  # HAFeature's pair shuffle
    # running sums stay on the device: no host synchronisation inside the step loop
    loss_sum = torch.zeros((), device=device)
    wrong = torch.zeros((), device=device, dtype=torch.long)
    seen, start = 0, time.perf_counter()
    for images, labels in loader.epoch(run["seed"], epoch):
        if tr["channels_last"]:
            images = images.contiguous(memory_format=torch.channels_last)
        with autocast(device, tr["precision"]):
            outputs, features = model(images)
        loss = objective(outputs, labels, features, model, shuffle_rng)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.detach() * len(labels)
        wrong += (leaf_logits(outputs).detach().argmax(1) != labels).sum()
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


def _save(path: Path, obj: dict, epoch: int | None) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
        if epoch is not None and os.environ.get(FAULT_ENV) == f"kill_while_saving:{epoch + 1}":
            os.kill(os.getpid(), signal.SIGKILL)  # the temp file is written, the rename not done


def _rng_state() -> dict:
    """RNG states as tensors and plain values, so ``torch.load(weights_only=True)`` reads them."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"]:
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
