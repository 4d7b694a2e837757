"""The tuned protocol's selection (haframe.report.selection): validation only, the declared
rule, failed trials listed and never selected."""

import copy

import pytest

from haframe.report.selection import select, selected_results, selection_rows, trial_rows, validation_scores


def trial(variant: str, repetition: int, index: int, val: tuple, test: tuple = (50.0, 2.0, 1.0)) -> dict:
    """A trial's metrics.json: ``val`` and ``test`` as (top-1 error, severity, AHD@1)."""
    metrics = dict(zip(("top1_error", "mistake_severity", "ahd@1"), test, strict=True))
    return {
        "variant": variant,
        "seed": 1_000_000 + 1000 * repetition + index,
        **metrics,
        "trial": {"index": index, "repetition": repetition, "drawn": {"training.lr": 0.01 * (index + 1)}},
        "val": dict(zip(("top1_error", "mistake_severity", "ahd@1"), val, strict=True)),
    }


RESULTS = [
    trial("ce", 0, 0, (30.0, 2.0, 0.60)),
    trial("ce", 0, 1, (28.0, 2.5, 0.70)),  # best val top-1, worst AHD@1
    trial("ce", 0, 2, (31.0, 1.5, 0.465)),  # best val AHD@1 and severity
    trial("ce", 1, 0, (29.0, 2.0, 0.58)),
    trial("ce", 1, 1, (29.0, 2.0, 0.58)),  # a tie: the lower index wins
]


@pytest.mark.parametrize(
    ("rule", "tolerance", "chosen"),
    [
        ("val_top1", None, {("ce", 0): 1, ("ce", 1): 0}),
        ("val_ahd1", None, {("ce", 0): 2, ("ce", 1): 0}),
        ("val_severity_within", 2.5, {("ce", 0): 0, ("ce", 1): 0}),  # trial 2 is 3 points worse than the best
        ("val_severity_within", 3.0, {("ce", 0): 2, ("ce", 1): 0}),
    ],
)
def test_each_rule_selects_on_validation_metrics(rule, tolerance, chosen):
    assert select(validation_scores(RESULTS), rule, tolerance) == chosen


def test_selection_never_reads_the_test_metrics():
    poisoned = copy.deepcopy(RESULTS)
    for result in poisoned:
        result.update(top1_error=-1.0 * result["trial"]["index"], mistake_severity=float("nan"), **{"ahd@1": 1e9})
    for rule in ("val_top1", "val_ahd1"):
        assert select(validation_scores(poisoned), rule) == select(validation_scores(RESULTS), rule)
        kept = selected_results(poisoned, rule)
        assert [r["trial"]["index"] for r in kept] == [r["trial"]["index"] for r in selected_results(RESULTS, rule)]


def test_a_trial_with_no_finite_score_is_never_preferred():
    results = [trial("ce", 0, 0, (float("nan"), float("nan"), float("nan"))), trial("ce", 0, 1, (90.0, 2.5, 2.2))]
    assert select(validation_scores(results), "val_ahd1") == {("ce", 0): 1}


def test_the_tables_list_every_trial_failed_ones_too_and_the_selected_test_values():
    failed = {"synthetic/ce/seed1001002": {"stage": "train", "error": "the loss diverged"}}
    header, rows = trial_rows(RESULTS, failed, "val_ahd1", None)
    assert header[:5] == ["variant", "repetition", "trial", "seed", "training.lr"] and len(rows) == 6
    assert rows[-1][:3] == ["ce", "1", "2"] and rows[-1][-1] == "failed in train"
    assert [row[-1] for row in rows[:3]] == ["", "", "yes"]
    header, rows = selection_rows(RESULTS, "val_ahd1", None)
    assert [row[2] for row in rows] == ["2", "0"] and header[-3:] == ["test top1_error", "test mistake_severity",
                                                                      "test ahd@1"]  # fmt: skip
