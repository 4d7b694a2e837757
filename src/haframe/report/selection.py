"""The tuned protocol's model selection, and its trial and selection tables.

Each (variant, repetition) selects one of its trials by the study's declared rule
(``haframe.protocol.SELECTION_RULES``). Selection sees a ``TrialScore`` per trial: its name and
its *validation* metrics, nothing else (``validation_scores`` builds them), so no test number
can reach it. A trial that failed (diverged, crashed) counts as a trial: it is listed and
cannot be selected; a repetition whose every trial failed selects nothing.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..fileio import write_text
from ..protocol import SELECTION_RULES, describe_rule, trial_of
from .html import markdown_to_html

SCORED = ("top1_error", "mistake_severity", "ahd@1")  # the validation metrics the rules and tables read
TEST_SHOWN = ("top1_error", "mistake_severity", "ahd@1")


@dataclass(frozen=True)
class TrialScore:
    """One trial as selection sees it: who it is, and its validation metrics."""

    variant: str
    repetition: int
    trial: int
    val: Mapping[str, float]


def validation_scores(results: Sequence[dict]) -> list[TrialScore]:
    """The validation side of trials' metrics.json records (their ``val`` section's base metrics)."""
    return [
        TrialScore(
            r["variant"],
            r["trial"]["repetition"],
            r["trial"]["index"],
            {metric: r["val"][metric] for metric in SCORED},
        )
        for r in results
    ]


def _finite(value: float | None) -> float:
    return value if value is not None and math.isfinite(value) else math.inf


def _pick(trials: Sequence[TrialScore], rule: str, tolerance: float | None) -> TrialScore:
    """The trial ``rule`` selects among one repetition's trials; ties go to the lower trial index."""
    if rule == "val_severity_within":
        best = min(_finite(t.val["top1_error"]) for t in trials)
        trials = [t for t in trials if _finite(t.val["top1_error"]) <= best + tolerance]
        key = "mistake_severity"
    else:
        key = {"val_top1": "top1_error", "val_ahd1": "ahd@1"}[rule]
    return min(trials, key=lambda t: (_finite(t.val[key]), t.trial))


def select(scores: Sequence[TrialScore], rule: str, tolerance: float | None = None) -> dict[tuple[str, int], int]:
    """{(variant, repetition): the selected trial's index} by ``rule`` (SELECTION_RULES)."""
    if rule not in SELECTION_RULES:
        raise ValueError(f"unknown selection rule {rule!r}; known: {sorted(SELECTION_RULES)}")
    groups: dict[tuple[str, int], list[TrialScore]] = {}
    for score in scores:
        groups.setdefault((score.variant, score.repetition), []).append(score)
    return {group: _pick(trials, rule, tolerance).trial for group, trials in groups.items()}


def selected_results(results: Sequence[dict], rule: str, tolerance: float | None = None) -> list[dict]:
    """The selected trials' records, in the order of ``results``."""
    chosen = select(validation_scores(results), rule, tolerance)
    return [r for r in results if chosen.get((r["variant"], r["trial"]["repetition"])) == r["trial"]["index"]]


# ---------------------------------------------------------------------- tables


def _number(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def _csv(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _variant_order(results: Sequence[dict]) -> dict[str, int]:
    """Variants in the order the results give them (the study's)."""
    return {variant: i for i, variant in enumerate(dict.fromkeys(r["variant"] for r in results))}


def _drawn_keys(results: Sequence[dict]) -> list[str]:
    return sorted({key for r in results for key in r["trial"]["drawn"]})


def trial_rows(
    results: Sequence[dict], failed: Mapping[str, Mapping], rule: str, tolerance: float | None
) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of every trial: its drawn values, validation metrics and whether it was
    selected; the failed trials (``failed``: run name -> failure record) listed as such."""
    chosen = select(validation_scores(results), rule, tolerance)
    drawn = _drawn_keys(results)
    header = ["variant", "repetition", "trial", "seed", *drawn, *(f"val {m}" for m in SCORED), "selected"]
    rows = []
    order = _variant_order(results)
    for r in sorted(results, key=lambda r: (order[r["variant"]], r["trial"]["repetition"], r["trial"]["index"])):
        trial = r["trial"]
        picked = chosen.get((r["variant"], trial["repetition"])) == trial["index"]
        rows.append(
            [
                r["variant"],
                str(trial["repetition"]),
                str(trial["index"]),
                str(r["seed"]),
                *(_number(trial["drawn"].get(key)) for key in drawn),
                *(_number(r["val"][m]) for m in SCORED),
                "yes" if picked else "",
            ]
        )
    for name, record in sorted(failed.items()):
        _, variant, seed = name.split("/")
        repetition, index = trial_of(int(seed.removeprefix("seed")))
        rows.append(
            [
                variant,
                str(repetition),
                str(index),
                seed.removeprefix("seed"),
                *("" for _ in drawn),
                "",
                "",
                "",
                f"failed in {record['stage']}",
            ]  # fmt: skip
        )
    return header, rows


def selection_rows(results: Sequence[dict], rule: str, tolerance: float | None) -> tuple[list[str], list[list[str]]]:
    """(header, rows): per variant and repetition, the selected trial, its drawn values, its
    validation metrics and its test metrics (what the main table averages)."""
    selected = selected_results(results, rule, tolerance)
    drawn = _drawn_keys(results)
    header = [
        "variant",
        "repetition",
        "trial",
        *drawn,
        *(f"val {m}" for m in SCORED),
        *(f"test {m}" for m in TEST_SHOWN),
    ]
    rows = [
        [
            r["variant"],
            str(r["trial"]["repetition"]),
            str(r["trial"]["index"]),
            *(_number(r["trial"]["drawn"].get(key)) for key in drawn),
            *(_number(r["val"][m]) for m in SCORED),
            *(_number(r[m]) for m in TEST_SHOWN),
        ]
        for r in sorted(selected, key=lambda r: (_variant_order(results)[r["variant"]], r["trial"]["repetition"]))
    ]
    return header, rows


def write_tuning_tables(
    dataset: str,
    results: Sequence[dict],
    failed: Mapping[str, Mapping],
    protocol: Mapping,
    trials_files: Mapping[str, str],
    selection_files: Mapping[str, str],
) -> None:
    """The dataset's trial table and selection table, each as md, csv and html."""
    rule, tolerance = protocol["selection"], protocol.get("tolerance")
    described = describe_rule(rule, tolerance)
    for (header, rows), files, title, note in (
        (
            trial_rows(results, failed, rule, tolerance),
            trials_files,
            f"{dataset}: every trial of the tuned protocol",
            f"Each repetition of each variant selects {described} (rule `{rule}`); a failed trial counts as a "
            "trial and cannot be selected. Validation metrics only; drawn values: method parameters by name, "
            "recipe knobs as training.<knob>.",
        ),
        (
            selection_rows(results, rule, tolerance),
            selection_files,
            f"{dataset}: the selected trials (rule `{rule}`)",
            "The main table's rows are these trials' test metrics: mean and 95% CI over repetitions.",
        ),
    ):
        markdown = "\n".join([f"### {title}", "", *_markdown_table(header, rows), "", f"- {note}", ""])
        write_text(files["md"], markdown)
        write_text(files["csv"], _csv(header, rows))
        write_text(files["html"], markdown_to_html(markdown, title))
