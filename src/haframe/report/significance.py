"""Significance of each table row against the CE baseline of its head (torch-free).

Every row of a results table (a variant, or a variant re-ranked by a post-hoc chain, e.g.
``haframe+crm``) is compared with the CE variant of the same head (method ``ce``; the first in
config order when several share the head; none when the head has none) on the table's
primary metrics:

- Welch's t over seeds for separately trained models (the variant's seeds against the
  baseline's), with the Welch-Satterthwaite degrees of freedom;
- a paired t over seeds (matched by seed, n - 1 degrees of freedom) for the post-hoc rows of
  the baseline's own models (``ce_II+crm`` against ``ce_II``: the same models, re-ranked);
- Holm's step-down correction per metric across the table's comparisons.

The small-sample rule (``metrics.MIN_N``): with fewer than 3 seeds on either side (or 3 seeds
in common, paired) no test is run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from ..metrics import too_few

ALPHA = 0.05  # the adjusted p below which a table marks the cell
BASELINE_METHOD = "ce"
DEFAULT_PRIMARY = ("top1_error", "mistake_severity", "ahd@1")
NOT_CHAINS = ("val", "trial", "control", "integrity")  # metrics.json sections that are not post-hoc chains
TESTS = {"welch": "Welch's t over seeds", "paired": "paired t over seeds"}


def _t_summary(difference: float, se: float, df: float, confidence: float) -> dict:
    """Difference, CI half-width and two-sided p of a t statistic; se = 0 gives CI 0 and p 1
    (equal means) or 0 (different means: no spread to explain the difference)."""
    from scipy import stats

    if se == 0.0:
        return {"difference": difference, "ci": 0.0, "p": 1.0 if difference == 0.0 else 0.0, "df": df}
    quantile = stats.t.ppf(0.5 + confidence / 2.0, df)
    p = float(2.0 * stats.t.sf(abs(difference) / se, df))
    return {"difference": difference, "ci": float(quantile * se), "p": min(p, 1.0), "df": df}


def welch(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> dict:
    """Welch's t of ``a`` (the variant) against ``b`` (the baseline): {difference (mean a -
    mean b), ci (half-width of its ``confidence`` interval), p (two-sided), df
    (Welch-Satterthwaite), n, n_baseline}."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size < 2 or b.size < 2:
        raise ValueError(f"Welch's t needs two values a side, got {a.size} and {b.size}")
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1)) if se > 0 else float(a.size + b.size - 2)
    result = _t_summary(float(a.mean() - b.mean()), se, float(df), confidence)
    return {**result, "n": int(a.size), "n_baseline": int(b.size)}


def paired(a: Mapping[int, float], b: Mapping[int, float], confidence: float = 0.95) -> dict:
    """Paired t of ``a`` (the variant) against ``b`` (the baseline), both {seed: value},
    matched by seed (seeds in one only are left out): {difference (mean of a - b), ci, p
    (two-sided), df (n - 1), n, n_baseline (both the seeds in common)}."""
    seeds = sorted(set(a) & set(b))
    if len(seeds) < 2:
        raise ValueError(f"a paired t needs two seeds in common, got {len(seeds)}")
    d = np.array([a[s] - b[s] for s in seeds], dtype=np.float64)
    result = _t_summary(float(d.mean()), float(d.std(ddof=1) / math.sqrt(d.size)), float(d.size - 1), confidence)
    return {**result, "n": d.size, "n_baseline": d.size}


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values, in the input order (None: no test, left out of the
    family): the i-th smallest of m times (m - i + 1), made monotone, capped at 1."""
    order = sorted((i for i, p in enumerate(p_values) if p is not None), key=lambda i: p_values[i])
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


# --------------------------------------------------------------------------- the table's rows


def series(results: Sequence[dict], variants: Sequence[str], posthoc: bool = True) -> list[dict]:
    """The rows of a table in ``variants`` order, each {name, variant, chain, head, method,
    runs: {seed: the metrics dict}}: a variant, then (``posthoc``) a ``<variant>+<chain>`` row
    per post-hoc chain that every seed of it ran, whose runs are the chain's results of the same
    models. ``results`` are metrics.json dicts (dataset, variant, seed, method, head, metrics,
    one dict per chain)."""
    out = []
    for variant in variants:
        runs = sorted((r for r in results if r["variant"] == variant), key=lambda r: r["seed"])
        if not runs:
            continue
        base = {"variant": variant, "head": runs[0].get("head", "II"), "method": runs[0].get("method")}
        out.append({**base, "name": variant, "chain": None, "runs": {r["seed"]: r for r in runs}})
        chains = [key for key, value in runs[0].items() if isinstance(value, dict) and key not in NOT_CHAINS]
        chains = chains if posthoc else []
        for chain in chains:
            if all(chain in r for r in runs):
                out.append(
                    {**base, "name": f"{variant}+{chain}", "chain": chain, "runs": {r["seed"]: r[chain] for r in runs}}
                )
    return out


def baselines(rows: Sequence[dict]) -> dict[str, dict]:
    """Per head of the ``rows`` (``series``): {baseline: the first CE variant in their order, or
    None; passed_over: the other CE variants of the head}."""
    out: dict[str, dict] = {}
    for row in rows:
        entry = out.setdefault(row["head"], {"baseline": None, "passed_over": []})
        if row["chain"] is None and row["method"] == BASELINE_METHOD:
            if entry["baseline"] is None:
                entry["baseline"] = row["variant"]
            else:
                entry["passed_over"].append(row["variant"])
    return out


def _values(row: dict, metric: str) -> dict[int, float]:
    return {seed: r[metric] for seed, r in row["runs"].items() if r.get(metric) is not None}


def compare(
    results: Sequence[dict],
    variants: Sequence[str],
    metrics: Sequence[str] = DEFAULT_PRIMARY,
    posthoc: bool = True,
) -> dict[str, dict]:
    """Per row name (``series``) but the baselines: {baseline, test ("welch" or "paired"),
    metrics: {metric: None (too few seeds) or {difference, ci, p, p_holm, df, n, n_baseline,
    test, baseline}}}; rows of a head without a CE variant are left out. Holm's correction runs
    per metric over every test of the table."""
    rows = series(results, variants, posthoc)
    heads = baselines(rows)
    by_name = {row["name"]: row for row in rows}
    out: dict[str, dict] = {}
    for row in rows:
        baseline = heads[row["head"]]["baseline"]
        if baseline is None or row["name"] == baseline:
            continue
        test = "paired" if row["variant"] == baseline else "welch"  # the baseline's models, re-ranked
        record = {"baseline": baseline, "test": test, "metrics": {}}
        for metric in metrics:
            a, b = _values(row, metric), _values(by_name[baseline], metric)
            if test == "paired":
                n = len(set(a) & set(b))
                record["metrics"][metric] = None if too_few(n) else paired(a, b)
            else:
                too_small = too_few(len(a)) or too_few(len(b))
                record["metrics"][metric] = None if too_small else welch(list(a.values()), list(b.values()))
            if record["metrics"][metric] is not None:
                record["metrics"][metric].update(test=test, baseline=baseline)
        out[row["name"]] = record
    for metric in metrics:
        tested = [record["metrics"][metric] for record in out.values() if record["metrics"][metric] is not None]
        for stat, adjusted in zip(tested, holm([stat["p"] for stat in tested]), strict=True):
            stat["p_holm"] = adjusted
    return out
