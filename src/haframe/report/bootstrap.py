"""A crossed bootstrap for mistake severity, the ratio metric (``report.bootstrap: N``).

Mistake severity is a ratio (the distance of the mistakes over their count), whose spread the
t interval over seeds ignores within a test set. Each of N replicates resamples the test
images once, shared by every row (so a difference between two rows sees the same images), and,
independently, each variant's runs (a post-hoc row of a variant takes the same runs as its
variant: the same models); a row's replicate is the mean over its resampled runs of each run's
severity on the resampled images. The interval is the replicates' 2.5 and 97.5 percentiles;
against the baseline, of the replicate-wise differences.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

SEED = 0  # the resamples' generator: the same table gives the same intervals


def crossed_bootstrap(
    distances: Mapping[str, Sequence[np.ndarray]],
    models: Mapping[str, str],
    replicates: int,
    baseline: str | None = None,
) -> dict[str, dict[str, float]]:
    """Per row: {low, high} of its severity and, beside ``baseline``, {diff_low, diff_high} of
    its difference to it. ``distances``: per row, one array per run of d(top-1 prediction,
    label) over the same test images (0: correct); ``models``: per row, whose runs it scores
    (its variant)."""
    rng = np.random.default_rng(SEED)
    stacked = {name: np.stack(arrays).astype(np.float64) for name, arrays in distances.items()}
    n_images = next(iter(stacked.values())).shape[1]
    runs = {models[name]: len(stacked[name]) for name in stacked}
    samples = {name: np.empty(replicates) for name in stacked}
    for b in range(replicates):
        weights = np.bincount(rng.integers(0, n_images, n_images), minlength=n_images)  # images, shared
        chosen = {model: rng.integers(0, n, n) for model, n in runs.items()}  # each variant's runs
        for name, d in stacked.items():
            picked = d[chosen[models[name]]]
            mistakes = (picked > 0) @ weights
            with np.errstate(invalid="ignore", divide="ignore"):
                samples[name][b] = np.mean(np.where(mistakes > 0, (picked @ weights) / mistakes, np.nan))
    out = {}
    for name, values in samples.items():
        low, high = np.nanpercentile(values, [2.5, 97.5])
        out[name] = {"low": float(low), "high": float(high)}
        if baseline is not None and name != baseline and baseline in samples:
            diff_low, diff_high = np.nanpercentile(values - samples[baseline], [2.5, 97.5])
            out[name].update(diff_low=float(diff_low), diff_high=float(diff_high))
    return out
