"""Pretrained classifiers on ImageNet-1k (issue 24, part 4) through the DAG, offline: the
shipped config leaves the dataset out until its images are set; with a fixture in ILSVRC's
layout (a val tar and the devkit) and random-weight stand-ins for two torchvision models, the
study runs to its report, each model through its own published preprocessing."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml
from conftest import REPO, mlflow_runs, run_snakemake
from PIL import Image
from torchvision import models
from torchvision.models import get_weight

from haframe.data.kinds import KINDS
from haframe.evaluate import Scores
from haframe.fileio import sha256_of
from haframe.hierarchy import Hierarchy

pytestmark = pytest.mark.dag

MODELS = {"ResNet18_Weights.IMAGENET1K_V1": "resnet18", "EfficientNet_B0_Weights.IMAGENET1K_V1": "efficientnet_b0"}


def shipped_config() -> dict:
    """config/pretrained_imagenet.yaml, named as the workflow names it after its file."""
    config = yaml.safe_load((REPO / "config" / "pretrained_imagenet.yaml").read_text())
    return {"study": "pretrained_imagenet", **config}


def test_a_fresh_clone_leaves_imagenet_out_and_says_what_to_set(tmp_path):
    result = run_snakemake(tmp_path, shipped_config(), "--dry-run")
    printed = result.stdout + result.stderr
    assert "Left out: imagenet1k" in printed
    assert "dataset 'imagenet1k' is left out of this run" in printed and "datasets.imagenet1k.imagenet.val" in printed
    assert "rule score_classifier" not in printed


def thousand_class_tree(fixture_classes: list[str]) -> Hierarchy:
    """A 1,000-leaf tree (torchvision's classifiers have 1,000 outputs) holding the fixture's
    classes: made-up WordNet-like ids beside them, in groups of 10 under groups of 100."""
    wnids = sorted({*fixture_classes, *(f"n0{i:07d}" for i in range(1000 - len(fixture_classes)))})
    return Hierarchy.from_paths([["root", f"a{i // 100}", f"b{i // 10}", wnid] for i, wnid in enumerate(wnids)])


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("pretrained")
    fixture = KINDS["imagenet1k"].fixture(root / "ilsvrc")
    tree = thousand_class_tree(list(fixture.hierarchy.classes))
    (root / "imagenet.tsv").write_text(tree.to_tsv())
    weights = {}
    for model, builder in MODELS.items():
        torch.manual_seed(0)
        path = root / f"{builder}-stand-in.pth"
        network = models.get_model(builder, weights=None)
        # spread logits: at its initial scale the last layer's outputs nearly tie, and a tie's
        # order (CRM's, HOPS's) turns on the summation order of another thread count
        [*network.modules()][-1].weight.data.normal_(0.0, 1.0)
        torch.save(network.state_dict(), path)
        weights[model] = {"source": str(path), "sha256": sha256_of(path)}
    config = shipped_config()
    config["pretrained"].update(models=list(MODELS), weights=weights, device="cpu", workers=0, batch_size=4)
    section = config["datasets"]["imagenet1k"]
    section.update(imagenet=fixture.options["imagenet"], counts=fixture.options["counts"], height=3)
    section["hierarchy"] = {"source": str(root / "imagenet.tsv"), "format": "tsv"}
    workdir = root / "work"
    run_snakemake(workdir, config)
    return workdir, config, tree


def test_each_model_is_scored_through_its_own_published_preprocessing(study):
    workdir, config, tree = study
    data = workdir / "results/pretrained_imagenet/imagenet1k/data"
    rows = [line.split(",")[:2] for line in (data / "test.csv").read_text().splitlines()[1:]]  # path, label
    for model, builder in MODELS.items():
        saved = Scores.load(workdir / f"results/pretrained_imagenet/imagenet1k/pretrained/{model}/scores/test.npz")
        network = models.get_model(builder, weights=None)
        network.load_state_dict(torch.load(config["pretrained"]["weights"][model]["source"], weights_only=True))
        transform = get_weight(model).transforms()
        with torch.inference_mode():
            images = torch.stack([transform(Image.open(data / path).convert("RGB")) for path, _ in rows])
            expected = network.eval()(images).numpy()
        assert saved.scores.shape == (len(rows), 1000)
        np.testing.assert_allclose(saved.scores, expected, rtol=1e-4, atol=1e-4)
        assert saved.targets.tolist() == [int(label) for _, label in rows]
        assert list(saved.classes) == list(tree.classes)


def test_metrics_are_those_of_the_score_cli_and_the_report_lists_every_model(study):
    workdir, _, _ = study
    results = workdir / "results/pretrained_imagenet"
    for model in MODELS:
        folder = results / f"imagenet1k/pretrained/{model}"
        cli = subprocess.run(
            [sys.executable, "-m", "haframe.score", "--scores", str(folder / "scores/test.npz"),
             "--hierarchy", str(results / "imagenet1k/hierarchy/hierarchy.tsv"), "--posthoc", "crm"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        metrics = json.loads((folder / "metrics.json").read_text())
        assert {key: metrics[key] for key in json.loads(cli.stdout)} == json.loads(cli.stdout)
        assert metrics["model"] == model and metrics["crm"]["n_test"] == 6
    table = (results / "report/pretrained/classifiers.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in table[1:]] == [
        "ResNet18_Weights.IMAGENET1K_V1",
        "EfficientNet_B0_Weights.IMAGENET1K_V1",
    ]
    assert "year" in table[0] and "top1_error +crm" in table[0]
    assert (results / "report/pretrained/error_vs_severity.png").stat().st_size > 5000
    _, runs = mlflow_runs(workdir, "pretrained_imagenet", kind="pretrained")
    assert sorted(run.data.params["model"] for run in runs) == sorted(MODELS)
    assert all(run.data.metrics["test_crm_top1_error"] >= 0 for run in runs)
    again = run_snakemake(workdir, study[1], "--dry-run")
    assert "Nothing to be done" in again.stdout
    assert re.search(r"imagenet1k +1000 +– / – / 6 +2 pretrained +0 +12 ", again.stdout + again.stderr)
