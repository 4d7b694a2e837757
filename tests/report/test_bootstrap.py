"""The crossed bootstrap of mistake severity (haframe.report.bootstrap) on constructed runs."""

import numpy as np

from haframe.report.bootstrap import crossed_bootstrap


def test_a_severity_without_spread_has_a_point_interval():
    runs = [np.array([0, 2, 2, 0, 2]), np.array([2, 0, 0, 2, 0])]  # every mistake at distance 2
    found = crossed_bootstrap({"ce": runs}, {"ce": "ce"}, replicates=200)
    assert found["ce"]["low"] == found["ce"]["high"] == 2.0


def test_rows_share_each_replicates_images_and_a_post_hoc_row_its_variants_runs():
    rng = np.random.default_rng(1)
    runs = [rng.integers(0, 4, 300) for _ in range(3)]
    same_models = crossed_bootstrap({"ce": runs, "ce+copy": runs}, {"ce": "ce", "ce+copy": "ce"}, 300, "ce")
    assert same_models["ce+copy"]["diff_low"] == same_models["ce+copy"]["diff_high"] == 0.0
    # the same runs under another variant's name are resampled on their own: the difference spreads, around 0
    other = crossed_bootstrap({"ce": runs, "twin": runs}, {"ce": "ce", "twin": "twin"}, 300, "ce")
    assert other["twin"]["diff_low"] < 0 < other["twin"]["diff_high"]


def test_the_interval_holds_the_severity_and_narrows_with_more_images():
    rng = np.random.default_rng(2)

    def runs(n):
        return [np.where(rng.random(n) < 0.3, rng.integers(1, 4, n), 0) for _ in range(3)]

    small, large = runs(200), runs(5000)
    severity = np.mean([d.sum() / (d > 0).sum() for d in small])
    narrow = crossed_bootstrap({"a": large}, {"a": "a"}, 300)["a"]
    wide = crossed_bootstrap({"a": small}, {"a": "a"}, 300)["a"]
    assert wide["low"] < severity < wide["high"]
    assert narrow["high"] - narrow["low"] < wide["high"] - wide["low"]
