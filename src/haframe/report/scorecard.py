"""The scorecard: our results beside reference results, the difference in units of our
confidence interval and a verdict per cell."""

from __future__ import annotations

import csv
import io as _io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from .tables import METRICS

REFERENCE_FIELDS = ("dataset", "variant", "metric", "value", "ci", "source", "table")
NOTE_FIELDS = {"runs": str, "ci": str, "converted": str, "protocol": list, "names": dict}
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
    return notes


def scorecard(rows_by_dataset: dict[str, Sequence[dict]], reference: Sequence[dict]) -> list[dict]:
    """Ours beside each reference cell: difference in units of our 95% CI half-width and a
    verdict: within (|ours - ref| <= our CI, n >= 3), outside, no CI (n < 3), no reference
    (empty value), not run (no result of ours)."""
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
        }
        if stat["mean"] is None:
            card["verdict"] = "not run"
        elif value is None:
            card["verdict"] = "no reference"
        elif stat["ci"] is None:
            card["verdict"] = "no CI"
        else:
            diff = stat["mean"] - value
            card["diff_in_ci"] = (
                diff / stat["ci"] if stat["ci"] > 0 else (0.0 if diff == 0 else math.copysign(math.inf, diff))
            )
            card["verdict"] = "within" if abs(diff) <= stat["ci"] else "outside"
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
        "- within: |ours - reference| <= our 95% CI half-width (n >= 3 seeds; no CI below); "
        "difference / our CI: (ours - reference) in units of that half-width",
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
            "| dataset | variant | metric | table | ours | n | reference | difference / our CI | verdict |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for c in own:
            ours = (
                "–"
                if c["ours"] is None
                else (f"{c['ours']:.2f}" + ("" if c["our_ci"] is None else f" ± {c['our_ci']:.2f}"))
            )
            ref = (c["value"] or "–") + (f" ± {c['ci']}" if c.get("ci") else "")
            diff = "–" if c["diff_in_ci"] is None else f"{c['diff_in_ci']:+.2f}"
            lines.append(
                f"| {c['dataset']} | {c['variant']} | {c['metric']} | {c['table'] or '–'} | {ours} | {c['n']} | {ref} "
                f"| {diff} | {c['verdict']} |"
            )
    return "\n".join(lines) + "\n"


def scorecard_csv(cards: Sequence[dict]) -> str:
    buffer = _io.StringIO()
    fields = list(REFERENCE_FIELDS) + ["ours", "our_ci", "n", "diff_in_ci", "verdict"]
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for card in cards:
        writer.writerow({k: ("" if card.get(k) is None else card.get(k)) for k in fields})
    return buffer.getvalue()
