"""The scorecard: our results beside reference results, their difference, both CIs, a verdict
per cell and, where the source says how its interval was made, Welch's test.

A cell is *within* when |ours - reference| <= sqrt(our CI^2 + its CI^2) + half a unit of the
reference's last printed digit (a value printed as 0.51 may be anything in [0.505, 0.515)); a
reference without a CI counts it as 0. Where the source's notes give its ``interval`` (n, the
std's ddof, the quantile), its standard deviation is recovered from its CI and a Welch t-test
compares the two samples. The small-sample rule holds: below 3 seeds of ours, no CI, no verdict.
"""

from __future__ import annotations

import csv
import io as _io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from ..metrics import too_few
from .tables import METRICS

REFERENCE_FIELDS = ("dataset", "variant", "metric", "value", "ci", "source", "table")
NOTE_FIELDS = {"runs": str, "ci": str, "interval": dict, "converted": str, "protocol": list, "names": dict}
INTERVAL_FIELDS = {"n": int, "ddof": int, "quantile": str}  # how a source made its CI: t or normal quantile
VERDICTS = ("within", "outside", "no CI", "no reference", "not run")


def read_reference(path: str | Path) -> list[dict]:
    """Reference results: CSV with dataset, variant, metric, value, ci (optional), source and
    table (optional). Empty values are allowed (a reference not yet sourced) and never filled in."""
    with open(path, newline="") as handle:
        rows = [row for row in csv.DictReader(line for line in handle if not line.startswith("#"))]
    for number, row in enumerate(rows, start=2):
        missing = [f for f in ("dataset", "variant", "metric") if not row.get(f)]
        if missing:
            raise ValueError(f"{path}, row {number}: missing {missing}")
        if row["metric"] not in METRICS:
            raise ValueError(f"{path}, row {number}: unknown metric {row['metric']!r}; known: {list(METRICS)}")
    return rows


def read_notes(path: str | Path) -> dict[str, dict]:
    """Per source, what its numbers are (``NOTE_FIELDS``; YAML), printed with its cells."""
    with open(path) as handle:
        notes = yaml.safe_load(handle) or {}
    for source, note in notes.items():
        if not isinstance(note, dict):
            raise ValueError(f"{path}: {source!r} must map {list(NOTE_FIELDS)} to their text")
        for field, value in note.items():
            if field not in NOTE_FIELDS:
                raise ValueError(f"{path}: {source!r}: unknown field {field!r}; known: {list(NOTE_FIELDS)}")
            if not isinstance(value, NOTE_FIELDS[field]):
                raise ValueError(f"{path}: {source!r}: {field} must be a {NOTE_FIELDS[field].__name__}")
        interval = note.get("interval") or {}
        for field, kind in INTERVAL_FIELDS.items():
            if interval and not isinstance(interval.get(field), kind):
                raise ValueError(f"{path}: {source!r}: interval.{field} must be a {kind.__name__}")
        if interval and interval["quantile"] not in ("t", "normal"):
            raise ValueError(f"{path}: {source!r}: interval.quantile must be t or normal, got {interval['quantile']!r}")
    return notes


def rounding(printed: str) -> float:
    """Half a unit of the last digit a value was printed with ("0.51": 0.005; "22": 0.5)."""
    decimals = len(printed.strip().partition(".")[2])
    return 0.5 * 10.0**-decimals


def _quantile(interval: Mapping, n: int) -> float:
    from scipy import stats

    return float(stats.t.ppf(0.975, n - 1) if interval["quantile"] == "t" else stats.norm.ppf(0.975))


def welch_against_reference(mean: float, ci: float, n: int, value: float, ref_ci: float, interval: Mapping) -> float:
    """Welch's two-sided p of ours (mean, t-based 95% half-width ``ci`` with ddof 1, ``n``
    seeds) against a reference whose half-width ``ref_ci`` was made as ``interval`` says."""
    from scipy import stats

    sd = ci * math.sqrt(n) / _quantile({"quantile": "t"}, n)
    n_ref = interval["n"]
    sd_ref = ref_ci * math.sqrt(n_ref) / _quantile(interval, n_ref)  # with the source's ddof
    sd_ref *= math.sqrt((n_ref - interval["ddof"]) / (n_ref - 1))  # as a sample std (ddof 1)
    return float(stats.ttest_ind_from_stats(mean, sd, n, value, sd_ref, n_ref, equal_var=False).pvalue)


def scorecard(
    rows_by_dataset: dict[str, Sequence[dict]], reference: Sequence[dict], notes: Mapping[str, dict] | None = None
) -> list[dict]:
    """Ours beside each reference cell: the difference, its tolerance (the module docstring)
    and a verdict: within, outside, no CI (n < 3), no reference (empty value), not run (no
    result of ours); with the source's ``interval`` in ``notes``, Welch's p."""
    lookup = {(d, row["name"]): row for d, rows in rows_by_dataset.items() for row in rows}
    cards = []
    for ref in reference:
        row = lookup.get((ref["dataset"], ref["variant"]))
        stat = (row or {}).get(ref["metric"]) or {"mean": None, "ci": None, "n": 0}
        value = float(ref["value"]) if ref.get("value", "").strip() else None
        card = {
            **{k: ref.get(k) or "" for k in REFERENCE_FIELDS},
            "ours": stat["mean"],
            "our_ci": stat["ci"],
            "n": stat.get("n", 0),
            "diff_in_ci": None,
            "difference": None,
            "tolerance": None,
            "welch_p": None,
        }
        if stat["mean"] is None:
            card["verdict"] = "not run"
        elif value is None:
            card["verdict"] = "no reference"
        elif stat["ci"] is None or too_few(card["n"]):
            card["verdict"] = "no CI"
        else:
            diff = stat["mean"] - value
            ref_ci = float(ref["ci"]) if (ref.get("ci") or "").strip() else 0.0
            card["difference"] = diff
            card["diff_in_ci"] = (
                diff / stat["ci"] if stat["ci"] > 0 else (0.0 if diff == 0 else math.copysign(math.inf, diff))
            )
            card["tolerance"] = math.hypot(stat["ci"], ref_ci) + rounding(ref["value"])
            card["verdict"] = "within" if abs(diff) <= card["tolerance"] else "outside"
            interval = ((notes or {}).get(ref.get("source") or "") or {}).get("interval")
            if interval and ref_ci > 0:
                card["welch_p"] = welch_against_reference(stat["mean"], stat["ci"], card["n"], value, ref_ci, interval)
        cards.append(card)
    return cards


def _counts(cards: Sequence[dict]) -> str:
    return ", ".join(f"{v}: {sum(c['verdict'] == v for c in cards)}" for v in VERDICTS)


def _note_lines(note: dict) -> list[str]:
    lines = [f"- {note[field]}" for field in ("runs", "ci", "converted") if field in note]
    if note.get("protocol"):
        lines += ["- Their protocol, as they state it:", *(f"  - {item}" for item in note["protocol"])]
    if note.get("names"):
        lines += ["- Their names, our variants:", *(f"  - {name}: {text}" for name, text in note["names"].items())]
    return lines


def scorecard_markdown(cards: Sequence[dict], reference_file: str, notes: Mapping[str, dict] | None = None) -> str:
    """One section per source (in file order): its notes, then its cells."""
    lines = [
        f"### Scorecard against {reference_file}",
        "",
        f"- {len(cards)} cells: {_counts(cards)}",
        "- within: |ours - reference| <= sqrt(our CI^2 + its CI^2) + half a unit of the reference's last printed "
        "digit (95% half-widths; a reference without a CI counts 0; n >= 3 seeds of ours, no CI below); "
        "Welch's p where the source's notes say how its CI was made (n, ddof, quantile)",
    ]
    for source in dict.fromkeys(c["source"] for c in cards):
        own = [c for c in cards if c["source"] == source]
        lines += [
            "",
            f"#### {source or 'no source given'}",
            "",
            *_note_lines((notes or {}).get(source, {})),
            f"- {len(own)} cells: {_counts(own)}",
            "",
            "| dataset | variant | metric | table | ours | n | reference | difference | tolerance | Welch p "
            "| verdict |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for c in own:
            ours = (
                "–"
                if c["ours"] is None
                else (f"{c['ours']:.2f}" + ("" if c["our_ci"] is None else f" ± {c['our_ci']:.2f}"))
            )
            ref = (c["value"] or "–") + (f" ± {c['ci']}" if c.get("ci") else "")
            diff = "–" if c["difference"] is None else f"{c['difference']:+.4g}"
            tolerance = "–" if c["tolerance"] is None else f"{c['tolerance']:.4g}"
            welch = "–" if c["welch_p"] is None else f"{c['welch_p']:.3g}"
            lines.append(
                f"| {c['dataset']} | {c['variant']} | {c['metric']} | {c['table'] or '–'} | {ours} | {c['n']} | {ref} "
                f"| {diff} | {tolerance} | {welch} | {c['verdict']} |"
            )
    return "\n".join(lines) + "\n"


def scorecard_csv(cards: Sequence[dict]) -> str:
    buffer = _io.StringIO()
    fields = list(REFERENCE_FIELDS) + [
        "ours",
        "our_ci",
        "n",
        "diff_in_ci",
        "verdict",
        "difference",
        "tolerance",
        "welch_p",
    ]
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for card in cards:
        writer.writerow({k: ("" if card.get(k) is None else card.get(k)) for k in fields})
    return buffer.getvalue()
