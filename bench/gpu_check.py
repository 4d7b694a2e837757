"""GPU path check: the real training loop (train_run + evaluate_run) on CUDA, fp32 vs bf16
autocast. Prints one JSON line per run. (Throughput: bench/train_throughput.py --gpu.)

    PYTHONPATH=src python bench/gpu_check.py [--out DIR]
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from haframe.data.synthetic import prepare
from haframe.evaluate import evaluate_run
from haframe.stages import parse_hierarchy, solve_frames
from haframe.train import train_run

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"  # cpu: a quick local dry run


def run_config(method: str, precision: str, epochs: int) -> dict:
    return {
        "dataset": "synthetic", "kind": "synthetic", "variant": f"{method}_{precision}", "seed": 0, "method": method,
        "head": "II", "crm": method == "ce", "params": {"alpha": 0.4} if method == "haframe" else {},
        "frame": {"gamma": 2.0, "solver": "grid"},
        "training": {
            "epochs": epochs, "batch_size": 256, "lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4,
            "lr_scale": {"backbone": 1.0, "head": 1.0, "classifier": 1.0}, "backbone": "small_cnn",
            "pretrained": None, "feature_dim": None, "type_I_width": 600, "channels_last": False,
            "device": DEVICE, "precision": precision, "deterministic": True, "threads": 4, "workers": 0,
        },
        "evaluation": {"batch_size": 1024, "drop_last": False},
    }


def training_figures(root: Path) -> None:
    data = root / "data"
    prepare({"branching": [3, 3, 3], "train_per_class": 400, "val_per_class": 20, "test_per_class": 40}, data)
    parse_hierarchy(data / "hierarchy.tsv", "tsv", root / "hierarchy", classes_file=data / "classes.txt")
    solve_frames(root / "hierarchy" / "hierarchy.tsv", root / "hierarchy" / "distances.npy", 2.0, "grid", root / "frames")
    for method in ("ce", "haframe"):
        for precision in ("fp32", "bf16"):
            run = run_config(method, precision, epochs=4)
            out = root / "runs" / run["variant"]
            start = time.perf_counter()
            train_run(run, data_dir=data, hierarchy_dir=root / "hierarchy", frames_dir=root / "frames", out_dir=out,
                      resume_dir=out / "resume", threads=4, log=lambda m: None)
            seconds = time.perf_counter() - start
            history = (out / "history.csv").read_text().splitlines()
            last = dict(zip(history[0].split(","), history[-1].split(",")))
            metrics = evaluate_run(checkpoint=out / "checkpoint.pt", data_dir=data, hierarchy_dir=root / "hierarchy",
                                   frames_dir=root / "frames",
                                   metrics_file=out / "metrics.json", predictions_file=out / "p.npz")
            print(json.dumps({
                "figure": "train_run", "method": method, "precision": precision,
                "wall_seconds_4_epochs": round(seconds, 2),
                "last_epoch_images_per_second": round(float(last["images_per_second"])),
                "test_top1_error": round(metrics["top1_error"], 2),
                "max_memory_mb": round(torch.cuda.max_memory_allocated() / 2**20) if DEVICE == "cuda" else None,
            }), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    print(json.dumps({"device": torch.cuda.get_device_name(0) if DEVICE == "cuda" else "cpu", "torch": torch.__version__}), flush=True)
    root = Path(args.out or tempfile.mkdtemp())
    training_figures(root)
