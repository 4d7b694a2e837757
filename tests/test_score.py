"""haframe.score: any predictions scored as the pipeline scores a run, and every bad input refused
with its name and what was expected."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import stage_assets, tiny_config

from haframe.data.kinds.synthetic import SyntheticSpec, generate, planted_hierarchy
from haframe.data.prepared import write_prepared
from haframe.evaluate import Scores, evaluate_run
from haframe.hierarchy import Hierarchy
from haframe.score import ScoreError, score
from haframe.study import Study
from haframe.train import train_run

TREE = Hierarchy.from_paths([["r", p, f"{p}{c}"] for p in "ABC" for c in range(3)])  # 9 leaves


def predictions(seed: int = 0, n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, TREE.num_classes)).astype(np.float32), rng.integers(0, TREE.num_classes, n)


def cli(scores, labels) -> list[str]:
    """The score CLI's command on a .npy scores and labels file (more arguments follow)."""
    return [sys.executable, "-m", "haframe.score", "--scores", str(scores), "--labels", str(labels)]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A trained type-II CE run with CRM, scored by the pipeline's evaluation."""
    root = tmp_path_factory.mktemp("run")
    (root / "assets").mkdir()
    assets = stage_assets(root / "assets", planted_hierarchy((3, 3)), gamma=2.0)
    config = tiny_config(seeds=[0])
    _, splits = generate(SyntheticSpec.from_options(config["datasets"]["synthetic"]["synthetic"]), assets.hierarchy)
    write_prepared(root / "data", list(assets.hierarchy.classes), splits, transform="none")
    run = Study(config).run("synthetic", "ce_II", 0)
    files = {name: root / "run" / f"{name}.out" for name in ("checkpoint", "history", "nc", "config")}
    train_run(run, assets, data=root / "data/meta.json", resume_dir=root / "run/resume", log=lambda m: None, **files)
    evaluate_run(
        checkpoint=files["checkpoint"],
        assets=assets,
        data=root / "data/meta.json",
        metrics_file=root / "run/metrics.json",
        predictions_file=root / "run/predictions.npz",
    )
    return root


def test_the_cli_on_a_runs_saved_scores_gives_exactly_its_metrics(finished_run, tmp_path):
    out = tmp_path / "metrics.json"
    command = [sys.executable, "-m", "haframe.score", "--scores", str(finished_run / "run/scores/test.npz")]
    command += ["--hierarchy", str(finished_run / "assets/hierarchy/hierarchy.tsv"), "--posthoc", "crm"]
    subprocess.run([*command, "--out", str(out)], check=True)
    ours, pipeline = json.loads(out.read_text()), json.loads((finished_run / "run/metrics.json").read_text())
    assert pipeline["crm"] and set(ours) - {"crm"} <= set(pipeline)
    for key, value in ours.items():
        assert value == pipeline[key], key  # exactly: the same float32 scores, the same code
    record = {"dataset", "variant", "seed", "method", "head", "split", "checkpoint_epoch", "drop_last", "data_path"}
    assert set(pipeline) - set(ours) == record | {"ranked_by", "integrity"}  # every metric (9 classes: no @20)


def test_npy_inputs_with_their_class_names_score_the_same(finished_run, tmp_path):
    saved = Scores.load(finished_run / "run/scores/test.npz")
    order = np.random.default_rng(0).permutation(len(saved.classes))  # the columns in another order
    np.save(tmp_path / "s.npy", saved.scores[:, order])
    np.save(tmp_path / "y.npy", np.argsort(order)[saved.targets])
    (tmp_path / "classes.txt").write_text("\n".join(saved.classes[order]) + "\n")
    hierarchy = str(finished_run / "assets/hierarchy/hierarchy.tsv")
    result = subprocess.run(
        cli(tmp_path / "s.npy", tmp_path / "y.npy")
        + ["--hierarchy", hierarchy, "--classes", str(tmp_path / "classes.txt")],
        check=True,
        capture_output=True,
        text=True,
    )
    pipeline = json.loads((finished_run / "run/metrics.json").read_text())
    for key, value in json.loads(result.stdout).items():
        assert value == pytest.approx(pipeline[key]) if isinstance(value, float) else value == pipeline[key], key


def test_probabilities_score_as_the_logits_they_come_from():
    logits, labels = predictions()
    probabilities = torch.softmax(torch.from_numpy(logits).double(), dim=1).numpy()
    from_logits = score(logits, labels, TREE, posthoc=["crm"])
    from_probabilities = score(probabilities, labels, TREE, kind="probabilities", posthoc=["crm"])
    assert from_probabilities.pop("crm") == pytest.approx(from_logits.pop("crm"))
    assert from_probabilities == pytest.approx(from_logits)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s, y, c: (s[:, :, None], y, c), r"scores: expected a real N x K array, got shape \(60, 9, 1\)"),
        (
            lambda s, y, c: (np.where(np.arange(9) == 4, np.nan, s), y, c),
            r"scores: 60 NaN or infinite value\(s\), the first at row 0, column 4",
        ),
        (lambda s, y, c: (s, y[:-1], c), r"labels: expected 60 labels \(one per row of scores\), got shape \(59,\)"),
        (lambda s, y, c: (s, y + 0.5, c), r"labels: expected integer class indices, got float64"),
        (
            lambda s, y, c: (s, np.where(np.arange(60) == 7, 9, y), c),
            r"labels: 1 outside \[0, 8\], the first 9 \(row 7\)",
        ),
        (lambda s, y, c: (s[:, :8], y % 8, None), r"scores: 8 columns, but the hierarchy has 9 leaves"),
        (lambda s, y, c: (s, y, c[:8]), r"scores: 9 columns, but 8 classes are named"),
        (lambda s, y, c: (s, y, [c[0]] * 9), r"classes: \['A0'\] named more than once"),
        (
            lambda s, y, c: (s, y, ["a0", *c[1:]]),
            r"classes: 1 name\(s\) are not leaves of the hierarchy, e.g. \['a0'\]",
        ),
    ],
    ids=["shape", "nan", "label-count", "label-type", "label-range", "columns", "class-count", "duplicate", "unknown"],
)
def test_bad_inputs_are_refused_naming_the_input(change, message):
    logits, labels = predictions()
    scores, labels, classes = change(logits, labels, list(TREE.classes))
    with pytest.raises(ScoreError, match=message):
        score(scores, labels, TREE, classes=classes)


def test_probabilities_that_are_not_distributions_and_unusable_chains_are_refused(tmp_path):
    logits, labels = predictions()
    with pytest.raises(
        ScoreError, match=r"kind 'probabilities', but 60 row\(s\) are not distributions .* pass kind='logits'"
    ):
        score(logits, labels, TREE, kind="probabilities")
    with pytest.raises(ScoreError, match=r"kind: 'softmax'; expected one of \['logits', 'probabilities'\]"):
        score(logits, labels, TREE, kind="softmax")
    with pytest.raises(ScoreError, match=r"posthoc: 'hie': rule 'hie' needs the scores of an auxiliary model"):
        score(logits, labels, TREE, posthoc=["hie"])
    with pytest.raises(ScoreError, match=r"posthoc: unknown post-hoc rule 'cmr'"):
        score(logits, labels, TREE, posthoc=["cmr"])
    with pytest.raises(ScoreError, match=r"hierarchy: .*missing.tsv is not a file"):
        score(logits, labels, tmp_path / "missing.tsv")
    (tmp_path / "bad.tsv").write_text("not a hierarchy\n")
    with pytest.raises(ScoreError, match=r"hierarchy: .*bad.tsv does not parse as tsv"):
        score(logits, labels, tmp_path / "bad.tsv")


def test_the_cli_prints_the_error_and_exits_2(tmp_path):
    logits, labels = predictions()
    np.save(tmp_path / "s.npy", logits)
    np.save(tmp_path / "y.npy", labels[:-1])
    (tmp_path / "h.tsv").write_text(TREE.to_tsv())
    result = subprocess.run(
        cli(tmp_path / "s.npy", tmp_path / "y.npy") + ["--hierarchy", str(tmp_path / "h.tsv")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == "error: labels: expected 60 labels (one per row of scores), got shape (59,)"
