"""The scorecard: our results beside reference results, the difference in units of our
confidence interval and a verdict per cell."""

from __future__ import annotations

import csv
import io as _io
import math
from pathlib import Path
from typing import Sequence

from .tables import METRICS

REFERENCE_FIELDS = ("dataset", "variant", "metric", "value", "ci", "source")


def read_reference(path: str | Path) -> list[dict]:
    """Reference results: CSV with dataset, variant, metric, value, ci (optional), source.
    Empty values are allowed (a reference not yet sourced) and never filled in."""
    with open(path, newline="") as handle:
        rows = [row for row in csv.DictReader(line for line in handle if not line.startswith("#"))]
    for number, row in enumerate(rows, start=2):
        missing = [f for f in ("dataset", "variant", "metric") if not row.get(f)]
        if missing:
            raise ValueError(f"{path}, row {number}: missing {missing}")
        if row["metric"] not in METRICS:
            raise ValueError(f"{path}, row {number}: unknown metric {row['metric']!r}; known: {list(METRICS)}")
    return rows


def scorecard(rows_by_dataset: dict[str, Sequence[dict]], reference: Sequence[dict]) -> list[dict]:
    """Ours beside each reference cell: difference in units of our 95% CI half-width and a
    verdict: within (|ours - ref| <= our CI, n >= 2), outside, no CI (n = 1), no reference
    (empty value), not run (no result of ours)."""
    lookup = {(d, row["name"]): row for d, rows in rows_by_dataset.items() for row in rows}
    cards = []
    for ref in reference:
        row = lookup.get((ref["dataset"], ref["variant"]))
        stat = (row or {}).get(ref["metric"]) or {"mean": None, "ci": None, "n": 0}
        value = float(ref["value"]) if ref.get("value", "").strip() else None
        card = {**{k: ref.get(k, "") for k in REFERENCE_FIELDS}, "ours": stat["mean"], "our_ci": stat["ci"], "n": stat.get("n", 0), "diff_in_ci": None}
        if stat["mean"] is None:
            card["verdict"] = "not run"
        elif value is None:
            card["verdict"] = "no reference"
        elif stat["ci"] is None:
            card["verdict"] = "no CI"
        else:
            diff = stat["mean"] - value
            card["diff_in_ci"] = diff / stat["ci"] if stat["ci"] > 0 else (0.0 if diff == 0 else math.copysign(math.inf, diff))
            card["verdict"] = "within" if abs(diff) <= stat["ci"] else "outside"
        cards.append(card)
    return cards


def scorecard_markdown(cards: Sequence[dict], reference_file: str) -> str:
    lines = [f"### Scorecard against {reference_file}", "",
             "| dataset | variant | metric | ours | n | reference | difference / our CI | verdict |", "|---|---|---|---|---|---|---|---|"]
    for c in cards:
        ours = "–" if c["ours"] is None else (f"{c['ours']:.2f}" + ("" if c["our_ci"] is None else f" ± {c['our_ci']:.2f}"))
        ref = (c["value"] or "–") + (f" ± {c['ci']}" if c.get("ci") else "")
        diff = "–" if c["diff_in_ci"] is None else f"{c['diff_in_ci']:+.2f}"
        lines.append(f"| {c['dataset']} | {c['variant']} | {c['metric']} | {ours} | {c['n']} | {ref} | {diff} | {c['verdict']} |")
    counts = {v: sum(c["verdict"] == v for c in cards) for v in ("within", "outside", "no CI", "no reference", "not run")}
    lines += ["", "- " + ", ".join(f"{v}: {n}" for v, n in counts.items()),
              "- within: |ours - reference| <= our 95% CI half-width (n >= 2 seeds)"]
    return "\n".join(lines) + "\n"


def scorecard_csv(cards: Sequence[dict]) -> str:
    buffer = _io.StringIO()
    fields = list(REFERENCE_FIELDS) + ["ours", "our_ci", "n", "diff_in_ci", "verdict"]
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for card in cards:
        writer.writerow({k: ("" if card.get(k) is None else card.get(k)) for k in fields})
    return buffer.getvalue()
