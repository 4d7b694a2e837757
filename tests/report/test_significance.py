"""Each table row against the CE baseline of its head: Welch's t, the paired t of post-hoc rows
of the baseline's models, Holm per metric, the small-sample rule, and what the tables show."""

import csv
import io
import math

import numpy as np
import pytest
import yaml
from scipy import stats
from test_report import result as report_result

from haframe.report import significance, tables
from haframe.report.html import markdown_to_html
from haframe.study import Study, load_config


def result(variant, seed, method, head, top1, severity, crm=None):
    """test_report's run result, with the method the baseline is chosen by."""
    return {**report_result(variant, seed, head, top1, severity, crm), "method": method}


# type II: two CE variants (ce_II first), haframe clearly better on top-1 error, ce_II+crm a
# little better than ce_II on every seed; type I: no CE variant; small: two seeds only
RESULTS = [
    *(
        result("ce_II", s, "ce", "II", 30.0 + e, 2.0 + d, crm=29.0 + e)
        for s, e, d in [(0, 0, 0), (1, 2, 0.2), (2, 1, 0.1), (3, 3, 0.3)]
    ),
    *(result("ce_II_wide", s, "ce", "II", 31.0 + e, 2.1) for s, e in [(0, 0.5), (1, 2.5), (2, 1.0)]),
    *(
        result("haframe", s, "haframe", "II", 20.0 + e, 1.9 + d, crm=19.0 + e)
        for s, e, d in [(0, 0, 0.1), (1, 0.4, 0), (2, 0.2, 0.2)]
    ),
    *(result("bilt", s, "bilt", "I", 25.0 + s, 1.5) for s in range(3)),
    *(result("small", s, "haframe", "II", 10.0 + s, 1.0) for s in range(2)),
]
VARIANTS = ["ce_II", "ce_II_wide", "haframe", "bilt", "small"]


def test_welch_matches_the_formula_and_scipy():
    a, b = [1.0, 2.0, 3.0, 5.0], [2.0, 2.5, 4.0]
    got = significance.welch(a, b)
    va, vb = np.var(a, ddof=1) / 4, np.var(b, ddof=1) / 3
    df = (va + vb) ** 2 / (va**2 / 3 + vb**2 / 2)  # Welch-Satterthwaite
    assert got["difference"] == pytest.approx(np.mean(a) - np.mean(b))  # variant - baseline
    assert got["df"] == pytest.approx(df)
    assert got["ci"] == pytest.approx(stats.t.ppf(0.975, df) * math.sqrt(va + vb))
    assert got["p"] == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue)
    assert (got["n"], got["n_baseline"]) == (4, 3)
    same = significance.welch([1.0, 1.0, 1.0], [1.0, 1.0, 1.0])  # no spread, no difference
    assert (same["difference"], same["ci"], same["p"]) == (0.0, 0.0, 1.0)


def test_paired_matches_ttest_rel_with_seeds_matched_not_by_position():
    a = {0: 30.0, 1: 33.0, 2: 31.5, 3: 29.0}
    b = {3: 28.0, 2: 31.0, 0: 29.5, 1: 32.0, 9: 50.0}  # another order; seed 9 has no pair
    got = significance.paired(a, b)
    x, y = [a[s] for s in range(4)], [b[s] for s in range(4)]
    d = np.subtract(x, y)
    assert got["difference"] == pytest.approx(d.mean())
    assert got["ci"] == pytest.approx(stats.t.ppf(0.975, 3) * d.std(ddof=1) / 2.0)
    assert got["p"] == pytest.approx(stats.ttest_rel(x, y).pvalue)
    assert (got["n"], got["df"]) == (4, 3)


def test_holm_on_a_hand_worked_case():
    # sorted 0.01, 0.03, 0.04: 3 * 0.01 = 0.03, 2 * 0.03 = 0.06, max(1 * 0.04, 0.06) = 0.06
    assert significance.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert significance.holm([0.5, None, 0.6]) == [1.0, None, 1.0]  # capped at 1; None: no test
    assert significance.holm([]) == []


def test_the_baseline_is_the_first_ce_variant_of_the_head_and_a_head_without_one_has_no_test():
    heads = significance.baselines(significance.series(RESULTS, VARIANTS))
    assert heads == {
        "II": {"baseline": "ce_II", "passed_over": ["ce_II_wide"]},
        "I": {"baseline": None, "passed_over": []},
    }
    compared = significance.compare(RESULTS, VARIANTS)
    assert "ce_II" not in compared and "bilt" not in compared  # the baseline; a head without CE
    assert compared["ce_II_wide"]["baseline"] == compared["haframe"]["baseline"] == "ce_II"
    assert significance.baselines(significance.series(RESULTS, ["ce_II_wide", "ce_II"]))["II"]["baseline"] == (
        "ce_II_wide"  # the first in config order
    )
    rows = tables.table_rows(RESULTS, VARIANTS, primary=significance.DEFAULT_PRIMARY)
    notes = " ".join(tables.significance_notes(RESULTS, VARIANTS, rows))
    assert "type II: `ce_II`" in notes and "type I: no CE variant, no test" in notes
    assert "`ce_II_wide` also CE, not the baseline" in notes


def test_post_hoc_rows_of_the_baseline_are_paired_the_others_welch_and_holm_runs_per_metric():
    compared = significance.compare(RESULTS, VARIANTS)
    assert compared["ce_II+crm"]["test"] == "paired"  # the baseline's own models, re-ranked
    assert compared["haframe+crm"]["test"] == compared["haframe"]["test"] == "welch"
    ce = {r["seed"]: r for r in RESULTS if r["variant"] == "ce_II"}
    got = compared["ce_II+crm"]["metrics"]["top1_error"]
    expected = significance.paired(
        {s: r["crm"]["top1_error"] for s, r in ce.items()}, {s: r["top1_error"] for s, r in ce.items()}
    )
    assert (got["difference"], got["p"]) == (pytest.approx(-1.0), pytest.approx(expected["p"]))
    haframe = compared["haframe"]["metrics"]["top1_error"]
    welch = stats.ttest_ind([20.0, 20.4, 20.2], [30.0, 32.0, 31.0, 33.0], equal_var=False)
    assert haframe["p"] == pytest.approx(welch.pvalue) and haframe["difference"] == pytest.approx(20.2 - 31.5)
    for metric in significance.DEFAULT_PRIMARY:
        tested = [c["metrics"][metric] for c in compared.values() if c["metrics"][metric] is not None]
        assert len(tested) == 4  # ce_II+crm, ce_II_wide, haframe, haframe+crm; not the 2-seed row
        assert [t["p_holm"] for t in tested] == pytest.approx(significance.holm([t["p"] for t in tested]))


def test_small_sample_rule_two_seeds_show_the_mean_and_n_no_ci_no_test():
    rows = tables.table_rows(RESULTS, VARIANTS, primary=significance.DEFAULT_PRIMARY)
    small = next(row for row in rows if row["name"] == "small")
    assert small["top1_error"] == {"mean": 10.5, "ci": None, "n": 2}
    assert small["significance"] == {m: None for m in significance.DEFAULT_PRIMARY}
    assert "| small | 2 | **10.50 (n = 2)** | **1.00 (n = 2)** |" in tables.markdown(rows, "t")  # bold: the best
    assert r"$\mathbf{10.50\ (n = 2)}$" in tables.latex(rows, "t")
    record = next(r for r in csv.DictReader(io.StringIO(tables.csv_text(rows))) if r["variant"] == "small")
    assert record["top1_error_mean"] == "10.5" and record["top1_error_ci95"] == ""
    assert record["top1_error_diff"] == record["top1_error_p_holm"] == ""
    # paired: three seeds in common are needed too
    two = [r for r in RESULTS if r["variant"] == "ce_II" and r["seed"] < 2]
    assert significance.compare(two, ["ce_II"])["ce_II+crm"]["metrics"]["top1_error"] is None


def test_written_tables_carry_the_marker_the_notes_and_the_appended_csv_columns(tmp_path):
    rows = tables.table_rows(RESULTS, VARIANTS, primary=significance.DEFAULT_PRIMARY)
    notes = tables.significance_notes(RESULTS, VARIANTS, rows)
    files = tables.table_files(tmp_path / "d")
    tables.write_tables(rows, files, "d: test metrics", notes)
    md = files["md"].read_text()
    haframe = next(line for line in md.splitlines() if line.startswith("| haframe |"))
    assert haframe.split(" | ")[2].endswith(tables.MARKER)  # top-1 error: 20.20 vs 31.50
    assert tables.MARKER not in next(line for line in md.splitlines() if line.startswith("| ce_II |"))
    assert f"- {tables.MARKER}: differs from the CE baseline" in md and "Holm-adjusted p < 0.05" in md
    assert tables.MARKER in markdown_to_html(md, "d") and r"^{\dagger}" in files["tex"].read_text()
    plain = tables.csv_text(tables.table_rows(RESULTS, VARIANTS))  # without significance
    header = files["csv"].read_text().splitlines()[0]
    assert header.startswith(plain.splitlines()[0] + ",")  # the columns of before, in their places
    assert header.endswith(
        ",baseline,test,top1_error_diff,top1_error_diff_ci,top1_error_p_holm,mistake_severity_diff,"
        "mistake_severity_diff_ci,mistake_severity_p_holm,ahd@1_diff,ahd@1_diff_ci,ahd@1_p_holm"
    )
    records = {r["variant"]: r for r in csv.DictReader(files["csv"].open())}
    assert (records["haframe"]["baseline"], records["haframe"]["test"]) == ("ce_II", "welch")
    assert records["ce_II+crm"]["test"] == "paired" and records["ce_II"]["baseline"] == ""
    assert float(records["haframe"]["top1_error_diff"]) == pytest.approx(-11.3)
    assert float(records["haframe"]["top1_error_p_holm"]) < 0.05 and float(records["haframe"]["top1_error_diff_ci"]) > 0
    assert records["bilt"]["top1_error_diff"] == ""  # no CE variant of type I


def test_the_study_tables_mark_the_ablation_and_summary_cells(tmp_path):
    from haframe.report.build import report_study

    variants = ["ce_II", "haframe", "haframe_fixed"]
    results = [
        *(result("ce_II", s, "ce", "II", 30.0 + s, 2.0 + s / 10) for s in range(3)),
        *(result("haframe", s, "haframe", "II", 20.0 + s / 10, 2.0 + s / 10) for s in range(3)),
        *(result("haframe_fixed", s, "haframe", "II", 31.0 + s, 2.0) for s in range(2)),
    ]
    files = {
        name: {s: tmp_path / f"{name}.{s}" for s in ("md", "tex", "csv", "html")}
        for name in ("ablation", "summary", "scorecard")
    }
    report_study(
        {"d": results},
        {"d": variants},
        ablation=files["ablation"],
        summary=files["summary"],
        scorecard_files=files["scorecard"],
        reference_file=None,
    )
    for name, marked in (("ablation", 2), ("summary", 1)):  # haframe's top-1 error (and AHD@1 = top-1 / 100)
        md = files[name]["md"].read_text()
        assert f"{tables.MARKER}: differs from the CE baseline of its head (`ce_II`)" in md, name
        assert md.count(tables.MARKER) == marked + 1, name  # and the note
        assert f"**20.10 ± 0.25**{tables.MARKER}" in md, name
        assert "31.50 (n = 2)" in md and "± " in md, name


def test_primary_metrics_default_and_reach_the_report_jobs():
    from conftest import REPO

    config = load_config(yaml.safe_load((REPO / "config" / "demo.yaml").read_text()), "demo.yaml")
    assert config["report"]["primary_metrics"] == list(significance.DEFAULT_PRIMARY)
    jobs = Study(config).compile(failed={}).jobs
    report = [job for job in jobs if job.rule in ("report_dataset", "report_study")]
    assert len(report) == 2 and all(
        job.params["primary_metrics"] == ["top1_error", "mistake_severity", "ahd@1"] for job in report
    )
    config = load_config(
        {**yaml.safe_load((REPO / "config" / "demo.yaml").read_text()), "report": {"primary_metrics": ["hops"]}},
        "d.yaml",
    )
    assert config["report"]["primary_metrics"] == ["hops"] and config["report"]["reference_results"] is None
    from haframe.runs import ConfigError

    with pytest.raises(ConfigError, match="primary_metrics"):
        load_config(
            {**yaml.safe_load((REPO / "config" / "demo.yaml").read_text()), "report": {"primary_metrics": ["top5"]}},
            "d.yaml",
        )
