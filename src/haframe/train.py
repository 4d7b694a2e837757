"""The training loop: one run = one (dataset, variant, seed), resumable epoch by epoch.

Declared outputs: ``checkpoint.pt`` (best validation top-1; holds the RunSpec and its identity
hash), ``history.csv`` (one row per epoch), ``nc.csv`` (one row per neural-collapse pass: after
every ``nc_every``-th epoch and the last one), ``config.yaml`` (RunSpec, identity hash, the
training record that identifies the weights for Snakemake (``haframe.identity``), provenance).
Resume state (``resume_dir``, never a declared output so Snakemake keeps it after a kill):
``state.pt`` (last completed epoch) and ``best.pt`` (best checkpoint so far), both written
atomically after every epoch. A run whose state is marked complete starts afresh when asked
again (a forced rerun); an incomplete one continues from its last completed epoch.
"""

from __future__ import annotations

import csv
import io as _io
import math
import os
import random
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import checkpoints
from .assets import RunAssets
from .collapse import COLUMNS as NC_COLUMNS
from .data.loaders import make_loader
from .data.prepared import read_meta
from .fileio import atomic_path, write_text, write_yaml
from .identity import training_record
from .inference import autocast, build_model, collapse_pass, place_model, predict
from .methods import get_method
from .models.model import Model
from .models.weights import load_weights
from .runs import LrScale, RunSpec
from .runtime import provenance, seed_everything, select_device, set_threads

HISTORY_FIELDS = (
    "epoch",
    "lr",
    "train_loss",
    "train_top1_error",
    "val_loss",
    "val_top1_error",
    "epoch_seconds",
    "images_per_second",
    "time",  # time: when the epoch ended (Unix seconds)
)
NC_FIELDS = ("epoch", "train_top1_error", *NC_COLUMNS, "seconds")
FAULT_ENV = "HAFRAME_FAULT"  # test hook: "kill_while_saving:<epoch>" SIGKILLs mid-write


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite: the run failed (a deterministic rerun would fail again)."""


def cosine_lr(base_lr: float, epoch: int, epochs: int) -> float:
    """Per-epoch cosine schedule lr(e) = base/2 * (1 + cos(pi e / E))."""
    return 0.5 * base_lr * (1.0 + math.cos(math.pi * epoch / epochs))


def parameter_groups(model: Model, scale: LrScale, head: str) -> list[dict]:
    """Backbone (+ the type-II 1x1 projection), head and classifier groups (README, "The method" 5)."""
    groups = {
        "backbone": (list(model.backbone.parameters()) + list(model.head.projection.parameters()), scale.backbone),
        "head": (list(model.head.transform.parameters()), scale.of_head(head)),
        "classifier": (list(model.classifier.parameters()), scale.classifier),
    }
    return [
        {"name": name, "params": [p for p in params if p.requires_grad], "lr_scale": factor}
        for name, (params, factor) in groups.items()
        if any(p.requires_grad for p in params)
    ]


def prepare_model(
    run: RunSpec, assets: RunAssets, device: torch.device, weights_file: str | Path | None = None
) -> Model:
    """The run's model on ``device``, initial weights loaded (``inference.place_model``)."""
    model = build_model(run, assets)
    if run.training.pretrained:
        load_weights(model.backbone, weights_file, run.training.pretrained)
    return place_model(model, run, device)


def make_optimizer(model: Model, run: RunSpec) -> torch.optim.Optimizer:
    training = run.training
    groups = parameter_groups(model, training.lr_scale, run.head)
    fused = training.fused_optimizer or None
    if training.optimizer == "adam":
        return torch.optim.Adam(groups, lr=training.lr, weight_decay=training.weight_decay, fused=fused)
    return torch.optim.SGD(groups, lr=training.lr, momentum=training.momentum, weight_decay=training.weight_decay,
                           fused=fused)  # fmt: skip


def train_run(
    run: RunSpec,
    assets: RunAssets,
    *,
    data: str | Path,
    checkpoint: str | Path,
    history: str | Path,
    nc: str | Path,
    config: str | Path,
    resume_dir: str | Path,
    weights_file: str | Path | None = None,
    threads: int = 1,
    log: Callable[[str], None] = print,
    epoch_log: Callable[[str], None] | None = None,
) -> dict:
    """Train ``run`` on the prepared dataset whose ``meta.json`` is ``data``; write the
    ``checkpoint``, ``history``, ``nc`` and ``config`` files; resume from ``resume_dir``. A
    control run trains on its shuffled hierarchy (``RunAssets.for_model``). ``log`` takes what a
    user should see (a resume, a state moved aside), ``epoch_log`` the routine lines (the setup,
    every epoch and neural-collapse pass; default: ``log``; the workflow's job keeps them in its
    log file, off the console)."""
    epoch_log = epoch_log or log
    resume_dir = Path(resume_dir)
    assets = assets.for_model(run.control)
    training, seed = run.training, run.seed
    set_threads(threads, training.workers)
    seed_everything(seed, training.deterministic)
    device = select_device(training.device)
    if read_meta(data)["num_classes"] != assets.num_classes:
        raise ValueError(f"{data}: class count differs from the hierarchy's")
    train_loader = make_loader(
        data,
        "train",
        train=True,
        batch_size=training.batch_size,
        device=device,
        drop_last=True,
        workers=training.workers,
        augment_on=training.augment_on,
    )
    evaluation_batch = run.evaluation.batch_size_on(device.type)
    val_loader = make_loader(
        data,
        "val",
        train=False,
        batch_size=evaluation_batch,
        device=device,
        drop_last=run.evaluation.drop_last,
        workers=training.workers,
    )
    collapse_loader = make_loader(  # the training images without augmentation
        data,
        "train",
        train=False,
        batch_size=evaluation_batch,
        device=device,
        workers=training.workers,
    )
    model = prepare_model(run, assets, device, weights_file)
    optimizer = make_optimizer(model, run)

    identity = run.identity_hash()
    spec = run.to_dict()
    state_file, best_file = resume_dir / "state.pt", resume_dir / "best.pt"
    start, best, rows, collapse_rows, state, started_at = 0, math.inf, [], [], None, time.time()
    state = _resume_state(state_file, best_file, device, log)
    if state is not None:
        if state["identity"] != identity:
            log("resume state belongs to another configuration; starting afresh")
        elif state["complete"]:
            log("previous run of this configuration is complete; starting afresh")
        else:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            start, best, rows, collapse_rows = state["epoch"] + 1, state["best"], state["history"], state["nc"]
            started_at = state.get("started_at", started_at)
            _set_rng_state(state["rng"])
            log(f"resumed after epoch {start} (best val top-1 error {best:.2f}%)")

    epoch_log(
        f"training {run.name} on {device}: "
        f"{train_loader.num_samples} train / {val_loader.num_samples} val images, {training.epochs} epochs"
    )
    for epoch in range(start, training.epochs):
        lr = cosine_lr(training.lr, epoch, training.epochs)
        for group in optimizer.param_groups:
            group["lr"] = lr * group["lr_scale"]
        row = _train_epoch(model, train_loader, optimizer, run, device, epoch)
        val_scores, val_targets, _ = predict(model, val_loader, device, training.precision, training.channels_last)
        row.update(
            epoch=epoch + 1,
            lr=lr,
            val_loss=float(
                torch.nn.functional.cross_entropy(torch.from_numpy(val_scores), torch.from_numpy(val_targets))
            ),
            val_top1_error=float(100.0 * (val_scores.argmax(1) != val_targets).mean()),
            time=time.time(),
        )
        rows.append(row)
        _check_progress(rows, run, chance=100.0 * (1.0 - 1.0 / val_scores.shape[1]))
        if (epoch + 1) % training.nc_every == 0 or epoch + 1 == training.epochs:
            collapse_rows.append(_collapse_row(model, collapse_loader, assets, run, device, epoch + 1, epoch_log))
        if row["val_top1_error"] < best:
            best = row["val_top1_error"]
            _save(
                best_file,
                {
                    "config": spec,
                    "identity": identity,
                    "epoch": epoch + 1,
                    "val_top1_error": best,
                    "model": model.state_dict(),
                },
                epoch,
            )
        state = {
            "identity": identity,
            "epoch": epoch,
            "best": best,
            "history": rows,
            "nc": collapse_rows,
            "complete": False,
            "started_at": started_at,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "rng": _rng_state(),
        }
        _save(state_file, state, epoch)
        epoch_log(
            f"{run.name} epoch {epoch + 1:3d}/{training.epochs}  lr {lr:.4f}  loss {row['train_loss']:.4f}  "
            f"train err {row['train_top1_error']:5.2f}%  val err {row['val_top1_error']:5.2f}%  "
            f"{row['images_per_second']:.0f} img/s"
        )

    with atomic_path(checkpoint) as tmp:
        shutil.copyfile(best_file, tmp)
    write_text(history, _csv(rows, HISTORY_FIELDS))
    write_text(nc, _csv(collapse_rows, NC_FIELDS))
    times = {"started_at": started_at, "finished_at": time.time()}  # Unix seconds; a resumed run keeps its first start
    write_yaml(
        config,
        {
            "run": spec,
            "identity": identity,
            "training_record": training_record(run),
            "provenance": {**provenance(device), **times},
        },
    )
    _save(state_file, {**state, "complete": True}, None)
    return {"best_val_top1_error": best, "epochs": len(rows)}


def _check_progress(rows: list[dict], run: RunSpec, chance: float) -> None:
    """Raise TrainingDiverged when the last epoch's loss is not finite, or when the training
    error has stayed at chance (within 1 point) for ``training.chance_patience`` epochs."""
    row = rows[-1]
    if not (math.isfinite(row["train_loss"]) and math.isfinite(row["val_loss"])):
        finite = [r["train_loss"] for r in rows if math.isfinite(r["train_loss"])]
        last = (
            f"{finite[-1]:.4g} (epoch {[r['epoch'] for r in rows if math.isfinite(r['train_loss'])][-1]})"
            if finite
            else "none"
        )
        raise TrainingDiverged(
            f"{run.name}: the loss diverged in epoch {row['epoch']} (training loss {row['train_loss']}, validation "
            "loss "
            f"{row['val_loss']}; last finite training loss: {last}; lr {row['lr']:.4g}); lower training.lr or check "
            "the data"
        )
    patience = run.training.chance_patience
    if patience and len(rows) >= patience and all(r["train_top1_error"] >= chance - 1.0 for r in rows[-patience:]):
        raise TrainingDiverged(
            f"{run.name}: the training error stayed at chance ({chance:.1f}%) for {patience} epochs, up to epoch "
            f"{row['epoch']} (training.chance_patience); lower training.lr or check the data"
        )


def _train_epoch(model: Model, loader, optimizer, run: RunSpec, device: torch.device, epoch: int) -> dict:
    model.train()
    training = run.training
    model.classifier.start_epoch(run.seed, epoch)
    method = get_method(run.method)

    def forward(images: torch.Tensor) -> tuple[Any, torch.Tensor]:
        with autocast(device, training.precision):
            return model(images)

    # running sums stay on the device: no host synchronisation inside the step loop
    loss_sum = torch.zeros((), device=device)
    wrong = torch.zeros((), device=device, dtype=torch.long)
    seen, start = 0, time.perf_counter()
    for images, labels in loader.epoch(run.seed, epoch):
        if training.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        loss, outputs = method.training_loss(model, images, labels, forward)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.detach() * len(labels)
        wrong += (model.classifier.class_scores(outputs).detach().argmax(1) != model.classifier.labels(labels)).sum()
        seen += len(labels)
    train_loss, train_error = float(loss_sum) / seen, 100.0 * float(wrong) / seen  # one sync
    seconds = time.perf_counter() - start
    return {
        "train_loss": train_loss,
        "train_top1_error": train_error,
        "epoch_seconds": seconds,
        "images_per_second": seen / seconds,
    }


def _collapse_row(model: Model, loader, assets: RunAssets, run: RunSpec, device: torch.device, epoch: int, log) -> dict:
    start = time.perf_counter()
    row = collapse_pass(model, loader, assets, device, run.training.precision, run.training.channels_last)
    row = {"epoch": epoch, **row, "seconds": time.perf_counter() - start}
    log(
        f"{run.name} epoch {epoch}: neural collapse NC1 {row['nc1']:.3g}, mean |cos - S| to the ETF (centred) "
        f"{row['centred_etf_dev_mean']:.3f}, training error without augmentation {row['train_top1_error']:.2f}% "
        f"({row['seconds']:.1f} s)"
    )
    return row


def _csv(rows: list[dict], fields: tuple[str, ...]) -> str:
    """Rows as CSV (None as an empty cell)."""
    buffer = _io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in rows)
    return buffer.getvalue()


def _save(path: Path, obj: dict, epoch: int | None) -> None:
    """Write ``path`` atomically, verified before it replaces the previous file (which stays
    until then)."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
        if epoch is not None and os.environ.get(FAULT_ENV) == f"kill_while_saving:{epoch + 1}":
            os.kill(os.getpid(), signal.SIGKILL)  # the temp file is written, the rename not done
        checkpoints.verify(tmp)


def _resume_state(state_file: Path, best_file: Path, device, log: Callable[[str], None]) -> dict | None:
    """The resume state, or None: none yet, or one that fails its checks (it and the best
    checkpoint so far are moved aside, named in the log, and the run starts afresh: a corrupt
    file is not a failure of the run)."""
    if not state_file.exists():
        return None
    try:
        state = checkpoints.load(state_file, map_location=device)
        if not state["complete"] and state["best"] < math.inf:
            checkpoints.verify(best_file)  # the best weights so far, which the run will end with
        return state
    except (checkpoints.CorruptFile, FileNotFoundError) as error:
        moved = [f"{path} -> {checkpoints.set_aside(path).name}" for path in (state_file, best_file) if path.exists()]
        log(f"resume state unusable ({error}); moved aside: {'; '.join(moved)}; starting afresh")
        return None


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
