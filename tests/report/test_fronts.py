"""Trade-off fronts (haframe.report.fronts) on constructed points whose fronts are known."""

import math

import numpy as np
import pytest

from haframe import figures
from haframe.report.fronts import (
    FrontPanel,
    attainment,
    compare_fronts,
    dominance_csv,
    dominance_markdown,
    pareto_front,
)


def test_the_front_keeps_the_points_nothing_beats_on_both_axes():
    x = np.array([3.0, 1.0, 2.0, 2.0, 4.0, np.nan, 1.0, 2.0])
    y = np.array([1.0, 5.0, 3.0, 4.0, 0.5, 0.1, 5.0, 3.0])
    # (1, 5) twice: the first (index 1) kept; (2, 3) twice: index 2; (2, 4) beaten at equal x; NaN ignored
    assert pareto_front(x, y).tolist() == [1, 2, 0, 4]
    assert pareto_front(x, -y, maximise_y=True).tolist() == [1, 2, 0, 4]  # the mirror image
    assert pareto_front(np.array([np.nan]), np.array([1.0])).tolist() == []


def test_attainment_is_the_best_value_reachable_at_or_below_each_x():
    reach = attainment(np.array([1.0, 2.0, 3.0]), np.array([5.0, 3.0, 1.0]), np.array([0.5, 1.0, 2.5, 9.0]))
    assert reach.tolist() == [math.inf, 5.0, 3.0, 1.0]
    assert attainment(np.array([1.0]), np.array([5.0]), np.array([0.0]), maximise_y=True).tolist() == [-math.inf]


def test_fronts_dominate_equal_or_cross_where_the_hand_computation_says():
    a = (np.array([1.0, 2.0, 3.0]), np.array([4.0, 2.0, 1.0]))
    worse = (np.array([1.5, 3.0]), np.array([4.0, 2.0]))  # a is at least as good everywhere
    crossing = (np.array([0.5, 2.5]), np.array([5.0, 1.5]))  # better below x = 1 and on [2.5, 3), worse from 3 on
    rows = {
        r["b"]: r for r in compare_fronts({"a": a, "worse": worse, "same": a, "crossing": crossing}) if r["a"] == "a"
    }
    assert rows["worse"]["verdict"] == "a dominates b" and rows["worse"]["b_better"] == []
    assert rows["worse"]["a_better"] == [(1.0, 1.5), (2.0, math.inf)]
    assert rows["same"]["verdict"] == "equal"
    assert rows["crossing"]["verdict"] == "cross"
    assert rows["crossing"]["b_better"] == [(0.5, 1.0), (2.5, 3.0)]
    assert rows["crossing"]["a_better"] == [(1.0, 2.5), (3.0, math.inf)]
    flipped = {r["b"]: r for r in compare_fronts({"worse": worse, "a": a})}
    assert flipped["a"]["verdict"] == "b dominates a"


def test_maximising_y_mirrors_minimising_its_negation():
    a, b = (np.array([1.0, 2.0]), np.array([0.2, 0.6])), (np.array([1.0, 3.0]), np.array([0.3, 0.5]))
    up = compare_fronts({"a": a, "b": b}, maximise_y=True)[0]
    down = compare_fronts({"a": (a[0], -a[1]), "b": (b[0], -b[1])})[0]
    assert up == down and up["verdict"] == "cross"


def test_the_tables_name_every_pair_and_its_verdict():
    rows = compare_fronts({"ce": (np.array([1.0]), np.array([2.0])), "hf": (np.array([1.0]), np.array([1.5]))})
    text = dominance_markdown(rows, "top-1 error (%)", "mistake severity")
    assert "| ce | hf | `hf` dominates `ce` |  | [1, inf) |" in text
    assert dominance_csv({"mistake_severity": rows, "hops": rows}).splitlines() == [
        "y,a,b,verdict,a_better,b_better",
        'mistake_severity,ce,hf,b dominates a,,"[1, inf)"',
        'hops,ce,hf,b dominates a,,"[1, inf)"',
    ]


@pytest.mark.parametrize("single", [False, True])
def test_the_figure_draws_every_panel(tmp_path, single):
    rng = np.random.default_rng(0)
    n = 1 if single else 6
    points = {name: (rng.uniform(20, 40, n), rng.uniform(1, 2, n)) for name in ("ce_II", "haframe")}
    selected = {name: (30.0, None if single else 1.0, 1.5, 0.1) for name in points}
    panels = [
        FrontPanel("top-1 error (%)", "mistake severity", points, selected),
        FrontPanel("top-1 error (%)", "HOPS", points, selected, maximise_y=True),
    ]
    paths = [tmp_path / "fronts.png", tmp_path / "fronts.svg"]
    figures.trade_off_fronts(panels, "fronts", *paths, colours={"ce_II": (0, 0, 1)}, marked=["ce_II"])
    assert all(path.stat().st_size > 1000 for path in paths)
    svg = paths[1].read_text()
    assert svg.count("top-1 error (%)") == 2 and "ce_II (baseline)" in svg and "HOPS" in svg
