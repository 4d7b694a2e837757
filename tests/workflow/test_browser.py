"""What a user sees, in a real headless browser (tests/browser.py: Debian's Chromium): the
README's MLflow link on the study's store opens the runs table with the shared view's metric
columns, and every page of the Snakemake report renders without a JavaScript error (issue 26)."""

import json
from collections import Counter

import pytest
import yaml
from browser import browser
from conftest import REPO, mlflow_client, mlflow_server, run_snakemake, tiny_study_config

pytestmark = pytest.mark.dag


def test_the_readme_link_opens_the_runs_with_the_shared_view_s_metric_columns(tiny_study, tmp_path):
    experiment = mlflow_client(tiny_study).get_experiment_by_name("tiny")
    results = tiny_study / "results"
    with mlflow_server(results / "mlflow.db", results / "mlflow-artifacts") as uri, browser() as page:
        page.open(f"{uri}/#/experiments/{experiment.experiment_id}/runs?viewStateShareKey=haframe")
        # the shared view's columns: its metrics as column headers, beside the runs' names
        found = page.wait_for(
            "const text = document.body.innerText;"
            "return ['test_top1_error', 'test_mistake_severity', 'synthetic/haframe/seed0']"
            ".every(s => text.includes(s)) && text",
            seconds=90,
        )
        page.screenshot(tmp_path / "mlflow_runs.png")  # for a person to look at: pytest's basetemp
        assert "Total Cost" not in found and "Traces" not in found.split("test_top1_error")[0][-400:]
        assert page.run("return window.__errors") == []


CLICK = """
const link = [...document.querySelectorAll('#app a')].find(a => a.innerText.trim() === arguments[0]);
if (link) link.click();
return Boolean(link);
"""
LOADED = "return typeof app !== 'undefined' && document.querySelector('#app').children.length > 0"


def test_every_page_of_the_report_renders_without_a_javascript_error(tiny_study, tmp_path):
    """Each category's and subcategory's page as a user reaches it (a click on its name from
    the home page), its entries listed, no uncaught error or console.error on the way."""
    report = tmp_path / "report.html"
    run_snakemake(tiny_study, tiny_study_config(), "--report", str(report))
    problems, shown = {}, {}
    with browser() as page:
        page.open(report.as_uri())
        page.wait_for(LOADED)
        page.wait_for("return document.body.innerText.includes('Study tiny of the hierarchy-aware')")  # its home page
        views = page.run("return Object.entries(categories).flatMap(([c, subs]) => Object.keys(subs).map(s => [c, s]))")
        assert {category for category, _ in views} == {"synthetic", "study"}, views
        for category, subcategory in views:
            page.open(report.as_uri())
            page.wait_for(LOADED)
            assert page.run(CLICK, category), category
            if not page.run("return Object.keys(categories[arguments[0]]).length == 1", category):
                page.wait_for(f"return document.body.innerText.includes({json.dumps(subcategory)})", seconds=10)
                assert page.run(CLICK, subcategory), subcategory
            rows = page.wait_for(
                "const rows = [...document.querySelectorAll('#app table tbody tr')];"
                "return rows.length && rows.map(row => row.innerText.trim())",
                seconds=10,
            )
            shown[f"{category}/{subcategory}"] = rows
            errors = page.run("return window.__errors")
            if errors:
                problems[f"{category}/{subcategory}"] = errors
        page.screenshot(tmp_path / "report_last_page.png")
    assert problems == {}, json.dumps(problems, indent=1)[:3000]
    assert len(shown["synthetic/tables"]) == 3 and any("main table" in row for row in shown["synthetic/tables"])
    assert len(shown["synthetic/figures"]) == 6 and len(shown["study/Other"]) == 3


def test_no_report_page_holds_two_entries():
    """Snakemake's report reads a second label that takes two values, one per entry, as a
    toggle, and a page of exactly two entries then renders nothing ("Cannot read properties of
    undefined (reading 'mime_type')": the blank tables page of issue 26, seen in this browser
    with one of three tables taken out). No page of the gallery, published or tuned, has two."""
    gallery = yaml.safe_load((REPO / "workflow" / "report" / "gallery.yaml").read_text())
    tuned_only = {"trials_html", "selection_html"}
    for tuned in (False, True):
        pages = Counter(
            (section, entry.get("subcategory"))
            for section, entries in gallery.items()
            for entry in entries
            if tuned or entry.get("report") not in tuned_only
        )
        assert 2 not in pages.values(), (tuned, pages)
