"""Paper-style tables, figures, scorecard and the README demo table (the report of a study built
through the DAG, its snapshot and the Snakemake HTML report: test_workflow.py)."""

import math
import re

import numpy as np
import pytest
import yaml
from conftest import REPO
from scipy import stats

from haframe import figures
from haframe.report import scorecard, tables
from haframe.study import Study, load_config


def result(variant, seed, head, top1, severity, crm=None):
    r = {
        "dataset": "d",
        "variant": variant,
        "seed": seed,
        "head": head,
        "n_test": 100,
        "drop_last": False,
        "top1_error": top1,
        "mistake_severity": severity,
        "ahd@1": top1 / 100,
        "ahd@5": 2.0,
    }
    if crm is not None:
        r["crm"] = {
            "top1_error": crm,
            "mistake_severity": severity - 0.1,
            "ahd@1": crm / 100,
            "ahd@5": 1.5,
            "n_test": 100,
        }
    return r


RESULTS = [
    result("ce_II", 0, "II", 30.0, 2.0, crm=31.0),
    result("ce_II", 1, "II", 32.0, 2.2, crm=33.0),
    result("ce_II", 2, "II", 34.0, 2.4, crm=35.0),
    result("ce_I", 0, "I", 20.0, 3.0, crm=21.0),
    result("ce_I", 1, "I", 22.0, 3.0, crm=22.0),
    result("ce_I", 2, "I", 24.0, 3.0, crm=23.0),
    result("haframe", 0, "II", 40.0, 1.0),
    result("haframe", 1, "II", 40.0, None),
]


def test_rows_are_grouped_by_head_with_crm_beside_and_known_ci():
    rows = tables.table_rows(RESULTS, ["ce_II", "haframe", "ce_I"])
    assert [r["name"] for r in rows] == ["ce_I", "ce_I+crm", "ce_II", "ce_II+crm", "haframe"]
    ce_II = rows[2]["top1_error"]
    assert ce_II["mean"] == pytest.approx(32.0)
    assert ce_II["ci"] == pytest.approx(stats.t.ppf(0.975, 2) * 2.0 / math.sqrt(3))  # sample std 2
    haframe = rows[4]
    assert haframe["mistake_severity"] == {"mean": 1.0, "ci": None, "n": 1}  # a None is dropped
    assert haframe["top1_error"] == {"mean": 40.0, "ci": None, "n": 2}  # n < 3: no CI (the small-sample rule)


def test_markdown_marks_the_best_of_each_column():
    rows = tables.table_rows(RESULTS, ["ce_I", "ce_II", "haframe"])
    text = tables.markdown(rows, "t")
    assert "| *type I* |" in text and "| *type II* |" in text
    assert f"| ce_I | 3 | **{22.0:.2f} ± " in text  # lowest top-1 error
    # lowest severity, n = 1; n < 3: the mean and its n, no CI
    assert re.search(r"\| haframe \| 2 \| 40\.00 \(n = 2\) \| \*\*1\.00 \(n = 1\)\*\* \|", text)
    csv_rows = tables.csv_text(rows).splitlines()
    assert csv_rows[0].endswith(",best") and csv_rows[1].startswith("ce_I,I,3,0 1 2,100,")
    assert csv_rows[1].split(",")[-1].split() == ["top1_error", "ahd@1"]  # ahd@1 = top1 / 100 here


def test_latex_is_balanced_with_one_line_per_row_and_no_nan():
    rows = tables.table_rows(RESULTS, ["ce_I", "ce_II", "haframe"])
    tex = tables.latex(rows, "title")
    assert tex.count(r"\begin{tabular}") == tex.count(r"\end{tabular}") == 1
    assert tex.count(r"\toprule") == tex.count(r"\bottomrule") == 1
    data = [line for line in tex.splitlines() if " & " in line and not line.startswith("variant")]
    assert len(data) == len(rows)
    columns = tex.splitlines()[1].count("c ") + 2
    for line in data:
        assert line.endswith(r"\\") and line.count(" & ") == columns - 1
        assert line.count("$") % 2 == 0 and line.count("{") == line.count("}")
    assert "nan" not in tex.lower() and "ce\\_II+crm" in tex


def test_scorecard_verdicts_on_a_hand_made_case(tmp_path):
    reference = tmp_path / "reference.csv"
    reference.write_text(
        "# comment lines are skipped\n"
        "dataset,variant,metric,value,ci,source\n"
        "d,ce_II,top1_error,33.0,0.5,paper\n"  # |32 - 33| = 1 <= CI 4.97: within
        "d,ce_II,mistake_severity,3.5,,paper\n"  # |2.2 - 3.5| = 1.3 > CI 0.50: outside
        "d,haframe,mistake_severity,1.0,,paper\n"  # n = 1: no CI
        "d,ce_I,top1_error,,,not sourced\n"  # empty: no reference
        "d,hxe,top1_error,30,,paper\n"  # not run
    )
    rows = {"d": tables.table_rows(RESULTS, ["ce_I", "ce_II", "haframe"])}
    cards = scorecard.scorecard(rows, scorecard.read_reference(reference))
    assert [c["verdict"] for c in cards] == ["within", "outside", "no CI", "no reference", "not run"]
    half = stats.t.ppf(0.975, 2) * 2.0 / math.sqrt(3)
    assert cards[0]["diff_in_ci"] == pytest.approx(-1.0 / half)
    assert cards[3]["value"] == ""  # never filled in
    assert cards[0]["table"] == ""  # optional column
    bad = tmp_path / "bad.csv"
    bad.write_text("dataset,variant,metric,value\nd,ce_II,top5_error,1\n")
    with pytest.raises(ValueError, match="unknown metric 'top5_error'"):
        scorecard.read_reference(bad)


def test_the_shipped_reference_holds_bilts_180_cells_for_variants_of_the_study():
    from conftest import REPO

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    reference = scorecard.read_reference(REPO / config["report"]["reference_results"])
    notes = scorecard.read_notes(REPO / config["report"]["reference_notes"])
    bilt = [r for r in reference if r["source"] == "Lu et al., AAAI 2025 (BiLT)"]
    assert len(bilt) == 9 * 4 * 5 and all(r["value"] and r["ci"] and r["table"].startswith("Table ") for r in bilt)
    assert {r["dataset"] for r in bilt} == set(config["datasets"]) and {r["metric"] for r in bilt} == set(
        tables.METRICS
    )
    assert len({r["variant"] for r in bilt}) == 9 and len(notes["Lu et al., AAAI 2025 (BiLT)"]["names"]) == 9
    study = Study(load_config(config, "paper.yaml"))
    for row in reference:  # a misspelt variant would silently read "not run"
        variant, _, chain = row["variant"].partition("+")
        spec = config["variants"][variant]
        assert row["dataset"] in config["datasets"] and variant in study.variants(row["dataset"])
        assert not chain or chain in spec["posthoc"], row
    assert set(notes) == {r["source"] for r in reference}
    cifar_ce = next(r for r in bilt if (r["dataset"], r["variant"], r["metric"]) == ("cifar100", "ce_I", "top1_error"))
    assert (cifar_ce["value"], cifar_ce["ci"]) == ("22.15", "0.2699")  # accuracy 77.85 +/- 0.2699
    text = scorecard.scorecard_markdown(scorecard.scorecard({}, reference), "reference.csv", notes)
    assert "180 cells: within: 0, outside: 0, no CI: 0, no reference: 0, not run: 180" in text
    assert "BiLT's runs, not the numbers of each method's own paper" in text and "ddof=0" in text


def test_notes_with_an_unknown_field_are_refused_naming_it(tmp_path):
    notes = tmp_path / "notes.yaml"
    notes.write_text("paper:\n  run: typo\n")
    with pytest.raises(ValueError, match="notes.yaml: 'paper': unknown field 'run'"):
        scorecard.read_notes(notes)


def test_a_series_keeps_its_colour_whatever_else_is_drawn_and_error_bars_stay_in_range():
    study = ["ce_I", "ce_I+crm", "ce_II", "ce_II+crm", "haframe", "bilt"]
    everything, some = figures.series_colours(study), figures.series_colours([*study, "extra"])
    assert everything["haframe"] == some["haframe"] and len(set(everything.values())) == len(study)
    assert figures.clipped_error(99.0, 5.0, 0.0, 100.0) == [[5.0], [1.0]]  # no bar past 100 %
    assert figures.clipped_error(0.5, 2.0, 0.0) == [[0.5], [2.0]]  # nor below 0


def test_every_table_has_an_html_page_with_the_same_cells(tmp_path):
    from haframe.report.html import markdown_to_html

    rows = tables.table_rows(RESULTS, ["ce_I", "ce_II", "haframe"])
    text = tables.markdown(rows, "d: test metrics", ["a note with **bold**"])
    page = markdown_to_html(text, "d")
    assert (
        page.count("<tr>") == 1 + len(rows) and page.count('<tr class="group">') == 2
    )  # header, rows; type I, type II
    assert "<td>ce_II+crm</td>" in page and "<strong>bold</strong>" in page and "<h3>d: test metrics</h3>" in page


def test_figures_draw_one_series_per_row_or_variant(tmp_path):
    rows = tables.table_rows(RESULTS, ["ce_I", "ce_II", "haframe"])
    paths = (tmp_path / "e.png", tmp_path / "e.svg")
    assert figures.error_vs_severity(rows, "t", *paths) == len(rows)
    svg = paths[1].read_text()
    assert all(f">{row['name']}<" in svg for row in rows)
    curves = {"a": [np.linspace(1, 2, 20), np.linspace(1.1, 2.1, 20)], "b": [np.linspace(0.5, 2, 20)]}
    assert figures.ahd_curves(curves, "t", tmp_path / "k.svg") == 2
    k_ticks = re.findall(r'<g id="xtick_\d+">.*?<text[^>]*>([^<]*)</text>', (tmp_path / "k.svg").read_text(), re.S)
    assert k_ticks and all(tick.isdigit() for tick in k_ticks)  # k counts predictions: no 2.5
    history = {
        "epoch": np.arange(1, 4),
        "val_top1_error": np.array([50.0, 40, 30]),
        "train_loss": np.array([2.0, 1.5, 1.0]),
    }
    assert figures.training_curves({"a": [history, history]}, "t", tmp_path / "c.png") == 1
    assert all(p.stat().st_size > 1000 for p in (*paths, tmp_path / "k.svg", tmp_path / "c.png"))


def test_readme_demo_table_is_the_generated_block_of_a_demo_table():
    from conftest import REPO

    from haframe.report import readme

    text = (REPO / "README.md").read_text()
    block = text[text.index(readme.BEGIN) : text.index(readme.END) + len(readme.END)]
    rows = [line for line in block.splitlines() if line.startswith("|")]
    demo = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    names = [line.split("|")[1].strip() for line in rows[3:]]
    expected = []
    for name, variant in demo["variants"].items():
        expected += [name] + [f"{name}+{chain}" for chain in variant.get("posthoc", [])]
    assert names == expected
    assert all(f"| {len(demo['seeds'])} |" in line for line in rows[3:])
    # regenerating from these rows gives the same block, and only the block changes
    table = "### synthetic: test metrics\n\n" + "\n".join(rows) + "\n\n- notes\n"
    assert readme.replace_block(text, table) == text


def test_the_scorecard_rule_adds_both_intervals_and_the_references_rounding(tmp_path):
    severities = [0.5149 - 0.0012, 0.5149, 0.5149 + 0.0012]  # mean 0.5149, t half-width about 0.003
    results = [{**RESULTS[0], "variant": "ce_I", "seed": s, "mistake_severity": v} for s, v in enumerate(severities)]
    rows = {"d": tables.table_rows(results, ["ce_I"])}
    ours = rows["d"][0]["mistake_severity"]
    reference = tmp_path / "reference.csv"
    reference.write_text("dataset,variant,metric,value,ci,source\nd,ce_I,mistake_severity,0.51,0.0019,paper\n")
    notes = {"paper": {"interval": {"n": 5, "ddof": 0, "quantile": "t"}}}
    (card,) = scorecard.scorecard(rows, scorecard.read_reference(reference), notes)
    assert abs(ours["mean"] - 0.51) > ours["ci"]  # our CI alone would call it outside
    assert card["verdict"] == "within" and card["tolerance"] == pytest.approx(math.hypot(ours["ci"], 0.0019) + 0.005)
    sd_ref = 0.0019 * math.sqrt(5) / stats.t.ppf(0.975, 4) * math.sqrt(5 / 4)  # ddof 0 -> 1
    sd = float(np.std(severities, ddof=1))
    expected = stats.ttest_ind_from_stats(0.5149, sd, 3, 0.51, sd_ref, 5, equal_var=False).pvalue
    assert card["welch_p"] == pytest.approx(expected, rel=1e-6)
    assert scorecard.rounding("22") == 0.5 and scorecard.rounding("2.125") == pytest.approx(0.0005)


def test_the_hierarchy_table_names_the_definition_of_each_accuracy_column():
    results = [
        {**result(variant, seed, "II", 30.0, 2.0), "level1_accuracy": 80.0, "full_path_accuracy": 60.0}
        for variant in ("ce_II", "hiercos")
        for seed in range(3)
    ]
    for r in results[3:]:
        r.update(hiercos_depth1_accuracy=85.0, hiercos_depth2_accuracy=75.0, hiercos_full_path_accuracy=65.0)
    metrics = [*tables.HIERARCHY_METRICS, *tables.level_metrics(results)]
    text = tables.markdown(tables.table_rows(results, ["ce_II", "hiercos"], metrics), "t")
    header = [cell.strip() for cell in text.splitlines()[2].split("|")[3:-1]]
    assert header == [
        "full-path accuracy (%)",
        "accuracy at level 1 (%)",
        "accuracy at depth 1, Hier-COS's rule (%)",
        "accuracy at depth 2, Hier-COS's rule (%)",
        "full-path accuracy, Hier-COS's rule (%)",
    ]
    ce_cells = next(line for line in text.splitlines() if line.startswith("| ce_II |")).split("|")[3:-1]
    assert [cell.strip() for cell in ce_cells[2:]] == ["–", "–", "–"]  # the authors' rule is Hier-COS's own
    assert any("Hier-COS's rule (its authors' definition" in note for note in tables.HIERARCHY_NOTES)


@pytest.mark.parametrize("caption", sorted(p.name for p in (REPO / "workflow" / "report").glob("*.rst")))
def test_every_caption_renders_without_a_docutils_message(caption):
    """Issue 26: `|cos(...)|` read as a substitution printed an error block in the report."""
    import io

    from docutils.core import publish_string

    warnings = io.StringIO()
    html = publish_string(
        (REPO / "workflow" / "report" / caption).read_text(),
        writer="html",
        settings_overrides={"report_level": 1, "warning_stream": warnings, "halt_level": 5},
    ).decode()
    assert "System Message" not in html and "(ERROR/" not in html and warnings.getvalue() == ""
