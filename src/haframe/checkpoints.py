"""Torch-free checks of torch files: a run's own checkpoints and resume states (``verify``: every
member's CRC-32, which ``torch.load`` does not check), and a downloaded backbone weights file, for
the weights download rule (its env, ``envs/data.yaml``, has no torch): is it a complete torch
checkpoint holding every parameter of the ResNet-50 body in the layout its format names?

A torch checkpoint (``torch.save`` since PyTorch 1.6) is a zip archive: ``<name>/data.pkl``
(the object, tensors as references to storages) and one ``<name>/data/<key>`` member per
storage. The check reads every member against its CRC (a truncated or damaged file fails),
and the strings of ``data.pkl`` with ``pickletools`` (an opcode listing: nothing in the file is
constructed or run), which must name every parameter and buffer of the body (``fc.*`` and the
BatchNorm ``num_batches_tracked`` counters not required, as ``haframe.models.weights`` loads
it). Files in the legacy format (before 1.6) are checked for the keys only: their tensor data
follows the pickles without a length that could be checked without torch. The full check, with
shapes, is ``haframe.models.weights.load_weights`` when a run loads the file.
"""

from __future__ import annotations

import os
import pickle
import pickletools
import time
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

from . import lazy

torch = lazy.module("torch")

# The body key prefix of each weights format (haframe.models.weights.FORMATS).
PREFIXES = {"torchvision": "", "pass_moco": "module.encoder_q."}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # torch.serialization.MAGIC_NUMBER
_BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


class CorruptFile(ValueError):
    """A torch file that fails its checks; ``path`` names it."""

    def __init__(self, path: str | Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)


def verify(path: str | Path) -> None:
    """Check that ``path`` is a complete torch file whose every member matches its CRC-32 (the
    digest torch's zip format stores per tensor and per pickle): a truncated file, or one whose
    bytes changed since it was written, raises CorruptFile. Reads the whole file once."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            damaged = zf.testzip()
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        raise CorruptFile(path, f"not a complete torch file ({type(error).__name__}: {error})") from None
    if damaged is not None:
        raise CorruptFile(path, f"member {damaged} fails its CRC-32 check: the file changed after it was written")


def load(path: str | Path, map_location: Any = "cpu") -> Any:
    """``torch.load(weights_only=True)`` of a file that passes ``verify``; a file that fails to
    load raises CorruptFile too, naming it."""
    verify(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as error:
        raise CorruptFile(path, f"does not load ({type(error).__name__}: {error})") from None


def set_aside(path: str | Path) -> Path:
    """Move a corrupt file out of the way, kept for inspection: ``<name>.corrupt-<UTC time>``."""
    path = Path(path)
    target = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}")
    os.replace(path, target)
    return target


def resnet50_body_keys() -> list[str]:
    """The state-dict keys of torchvision's ResNet-50 without its ``fc`` layer, in order."""
    keys = ["conv1.weight", *(f"bn1.{name}" for name in _BN)]
    for layer, blocks in enumerate((3, 4, 6, 3), start=1):
        for block in range(blocks):
            prefix = f"layer{layer}.{block}."
            for i in (1, 2, 3):
                keys += [f"{prefix}conv{i}.weight", *(f"{prefix}bn{i}.{name}" for name in _BN)]
            if block == 0:
                keys += [f"{prefix}downsample.0.weight", *(f"{prefix}downsample.1.{name}" for name in _BN)]
    return keys


def _pickle_strings(stream: BinaryIO, path: Path) -> set[str]:
    """The string arguments of one pickle's opcodes (up to its STOP), nothing constructed."""
    try:
        return {arg for _, arg, _ in pickletools.genops(stream) if isinstance(arg, str)}
    except (ValueError, EOFError) as error:  # genops: bad opcode or truncated pickle
        raise ValueError(f"{path}: not a readable torch checkpoint ({error})") from error


def _zip_checkpoint(path: Path) -> tuple[set[str], str]:
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            pickles = [name for name in names if name.count("/") == 1 and name.endswith("/data.pkl")]
            if len(pickles) != 1:
                raise ValueError(f"{path}: a zip archive but not a torch checkpoint (no <name>/data.pkl member)")
            damaged = zf.testzip()  # reads every member against its CRC
            if damaged is not None:
                raise ValueError(f"{path}: member {damaged} fails its CRC check (a damaged download)")
            with zf.open(pickles[0]) as stream:
                strings = _pickle_strings(stream, path)
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        raise ValueError(f"{path}: a damaged zip archive ({type(error).__name__}: {error})") from error
    storages = sum(1 for name in names if name.startswith(pickles[0][: -len("data.pkl")] + "data/"))
    return strings, f"a complete torch checkpoint ({len(names)} members, {storages} storages, every CRC checked)"


def _legacy_checkpoint(path: Path) -> tuple[set[str], str]:
    with open(path, "rb") as stream:
        try:
            magic = [arg for _, arg, _ in pickletools.genops(stream) if isinstance(arg, int)]
        except (ValueError, EOFError):
            magic = []
        if magic[-1:] != [_LEGACY_MAGIC]:  # PROTO 2, then the magic number
            raise ValueError(
                f"{path}: neither a complete torch checkpoint (a zip archive; truncated ones lose their index) nor a "
                "legacy torch file"
            )
        _pickle_strings(stream, path)  # protocol version
        _pickle_strings(stream, path)  # system info
        strings = _pickle_strings(stream, path)  # the object
        storage_keys = _pickle_strings(stream, path)  # the storages' keys; their bytes follow
    return strings, f"a legacy torch file ({len(storage_keys)} storages; tensor data not checked)"


def check_weights_file(path: str | Path, fmt: str) -> str:
    """Check the weights file ``path`` of format ``fmt`` (``torchvision``: a ResNet-50 state
    dict; ``pass_moco``: a MoCo checkpoint whose ``state_dict`` holds the query encoder under
    ``module.encoder_q.``). Returns what was checked; raises ValueError naming the file and what
    is wrong."""
    path = Path(path)
    if fmt not in PREFIXES:
        raise ValueError(f"unknown weights format {fmt!r}; known: {sorted(PREFIXES)}")
    strings, what = _zip_checkpoint(path) if zipfile.is_zipfile(path) else _legacy_checkpoint(path)
    required = [PREFIXES[fmt] + key for key in resnet50_body_keys() if not key.endswith("num_batches_tracked")]
    if fmt == "pass_moco":
        required.insert(0, "state_dict")
    missing = [key for key in required if key not in strings]
    if missing:
        raise ValueError(
            f"{path}: not the {fmt} ResNet-50 weights expected: {len(missing)} of {len(required)} keys missing "
            f"({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''})"
        )
    return f"{what}, naming all {len(required)} keys of the ResNet-50 body ({fmt})"
