"""Pretrained ResNet-50 weights: where they come from (``WEIGHTS``, the records of ``records.py``,
downloaded and verified by the workflow) and loading them from local files (nothing here
touches the network).

Files are read with ``torch.load(..., weights_only=True)`` only: tensors and plain
containers, never arbitrary pickled objects. Loading is strict: every parameter and buffer
of the backbone must come from the file (BatchNorm ``num_batches_tracked`` counters, absent
from files saved before PyTorch 0.4.1, are set to 0; they are unused with a fixed momentum),
and nothing of the file's body may be left over.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from .records import WEIGHTS, WeightsSpec  # noqa: F401  (the records, torch-free; imported from here too)

FORMATS = ("torchvision", "pass_moco")
_PASS_PREFIX = "module.encoder_q."
_BN_COUNTER = "num_batches_tracked"


def _read(path: Path) -> object:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:  # weights_only refuses anything but tensors/containers
        raise ValueError(f"refusing to load {path}: not a plain weights file ({err})") from err
    except RuntimeError as err:  # e.g. a truncated download: not a readable archive
        raise ValueError(f"cannot read {path} as a torch weights file ({err})") from err


def _preview(keys: list[str], limit: int = 12) -> str:
    shown = ", ".join(keys[:limit])
    return f"[{shown}{f', ... ({len(keys) - limit} more)' if len(keys) > limit else ''}]"


def _body_state_dict(obj: object, path: Path, source: str) -> dict[str, torch.Tensor]:
    if source == "torchvision":
        if not isinstance(obj, Mapping):
            raise ValueError(f"{path}: expected a torchvision state dict, got {type(obj).__name__}")
        return {k: v for k, v in obj.items() if not k.startswith("fc.")}
    if not isinstance(obj, Mapping) or not isinstance(obj.get("state_dict"), Mapping):
        raise ValueError(f"{path}: expected a MoCo checkpoint with a 'state_dict' entry")
    # keep the query encoder's body; drop its MLP head (fc.*), the key encoder and the queue
    return {
        k[len(_PASS_PREFIX) :]: v
        for k, v in obj["state_dict"].items()
        if k.startswith(_PASS_PREFIX) and not k.startswith(_PASS_PREFIX + "fc.")
    }


def load_weights(backbone: nn.Module, path: str | Path, source: str) -> nn.Module:
    """Load a local weights file into ``backbone`` (in place; returns it).

    ``source``: "torchvision" (a torchvision ResNet-50 state dict; ``fc.*`` dropped) or
    "pass_moco" (a MoCo-v2 checkpoint; the ``module.encoder_q.`` body is kept), or a key of
    ``WEIGHTS``. Missing, unexpected or mis-shaped keys raise a ValueError naming the file.
    """
    path = Path(path)
    if source in WEIGHTS:
        source = WEIGHTS[source].format
    if source not in FORMATS:
        raise ValueError(f"unknown weights source {source!r}; known: {list(FORMATS)} or {sorted(WEIGHTS)}")
    state = _body_state_dict(_read(path), path, source)

    expected = backbone.state_dict()
    for key, value in expected.items():
        if key.rsplit(".", 1)[-1] == _BN_COUNTER and key not in state:
            state[key] = torch.zeros_like(value)
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"{path} ({source}) does not match the {type(backbone).__name__} body: "
            f"{len(missing)} missing keys {_preview(missing)}; "
            f"{len(unexpected)} unexpected keys {_preview(unexpected)}"
        )
    bad = [
        f"{k}: file {tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__}"
        f" vs model {tuple(expected[k].shape)}"
        for k, v in state.items()
        if not isinstance(v, torch.Tensor) or v.shape != expected[k].shape
    ]
    if bad:
        raise ValueError(f"{path} ({source}): {len(bad)} mismatched entries {_preview(bad)}")
    backbone.load_state_dict(state, strict=True)
    return backbone
