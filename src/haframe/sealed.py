"""A run's ``metrics.json``, sealed: ``seal`` adds the sha256 of its values and of its
``predictions.npz`` when evaluation writes it; ``read_metrics`` checks both, and the invariants
of its metrics, wherever a result is read (the report, the MLflow import), and refuses an edited
or inconsistent file, naming it. Torch-free.

A file written before results were sealed has no seal: it is read after the invariants alone.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

from .fileio import read_json, sha256_of

SEAL = "integrity"  # metrics.json's key of the seal (not a post-hoc chain)
PREDICTIONS = "predictions.npz"  # beside metrics.json


class ResultMismatch(ValueError):
    """A metrics.json that no longer matches what evaluation wrote, or contradicts itself."""


def seal(result: dict, predictions_file: str | Path) -> dict:
    """``result`` with its seal: the digest of its values and of its predictions file."""
    return {**result, SEAL: {"sha256": _digest(result), "predictions_sha256": sha256_of(predictions_file)}}


def read_metrics(path: str | Path) -> dict:
    """A run's metrics.json, checked: its seal (where it has one) against its values and its
    predictions file, and the invariants of every prediction it scores (``check_invariants``)."""
    path = Path(path)
    result = read_json(path)
    found = result.pop(SEAL, None)
    if found is not None:
        if _digest(result) != found["sha256"]:
            raise ResultMismatch(f"{path}: its values changed after evaluation wrote them (their sha256 differs)")
        predictions = path.with_name(PREDICTIONS)
        if not predictions.is_file() or sha256_of(predictions) != found["predictions_sha256"]:
            raise ResultMismatch(f"{path}: {predictions} is missing or not the predictions it was computed from")
    check_invariants(result, path)
    return result


def check_invariants(result: dict, path: str | Path) -> None:
    """Each scored prediction (the run's own, each chain's, the validation split's): top-1 error
    in [0, 100], and AHD@1 = top-1 error x mistake severity / 100 (the mean distance of the top-1
    prediction is the share of mistakes times their mean distance)."""
    for where, metrics in _predictions(result):
        error, severity, ahd = metrics.get("top1_error"), metrics.get("mistake_severity"), metrics.get("ahd@1")
        if error is None:
            continue
        if not 0.0 <= error <= 100.0:
            raise ResultMismatch(f"{path}: {where}top1_error {error} is outside [0, 100]")
        if ahd is not None and not math.isclose(ahd, error * (severity or 0.0) / 100.0, rel_tol=1e-9, abs_tol=1e-12):
            raise ResultMismatch(
                f"{path}: {where}ahd@1 {ahd} is not top1_error x mistake_severity / 100 = "
                f"{error} x {severity} / 100: the file contradicts itself"
            )


def _predictions(result: dict, prefix: str = ""):
    yield prefix, result
    for key, value in result.items():
        if isinstance(value, dict) and key not in ("trial", "control", SEAL):
            yield from _predictions(value, f"{prefix}{key}.")


def _digest(result: dict) -> str:
    return hashlib.sha256(json.dumps(result, sort_keys=True, allow_nan=False).encode()).hexdigest()
