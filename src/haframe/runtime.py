"""Process-level setup shared by training and evaluation: seeds, threads, device, provenance."""

from __future__ import annotations

import os
import platform
import random

import numpy as np
import torch

from .runs import git_commit  # torch-free there: the MLflow importers tag runs with it too


def seed_everything(seed: int, deterministic: bool = True) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    # benchmark mode picks kernels by timing, which breaks run-to-run reproducibility
    torch.backends.cudnn.benchmark = not deterministic
    torch.backends.cudnn.deterministic = deterministic


def select_device(requested: str = "auto") -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"training.device is {requested!r} but CUDA is not available here")
    return torch.device(requested)


def set_threads(cores: int, workers: int = 0) -> None:
    """Torch threads = the job's cores minus its DataLoader worker processes (at least 1)."""
    torch.set_num_threads(max(1, int(cores) - int(workers)))


def provenance(device: torch.device) -> dict:
    return {
        "git_commit": git_commit(),
        "host": platform.node(),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": str(torch.__version__),
        "python": platform.python_version(),
        "pid": os.getpid(),
    }
