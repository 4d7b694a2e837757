"""README's "Adding a method" recipe, followed in a copy of the repository: one new module in
haframe/methods plus config lines, nothing else edited, trains and evaluates through the DAG,
and the contract suite (tests/contract) tests it."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml
from conftest import REPO, SNAKEMAKE, tiny_config

pytestmark = pytest.mark.dag

# CosFace (Wang et al., CVPR 2018): normalised features and class weights, logits
# s * (cos - m * onehot): its own classifier, loss and prediction rule (the cosines).
COSFACE = '''
"""CosFace: a large-margin cosine classifier (Wang et al., CVPR 2018)."""

from .. import lazy
from ..options import Option
from .base import Method, MethodClassifier

torch = lazy.module("torch")
F = lazy.module("torch.nn.functional")
nn = lazy.module("torch.nn")


class CosineClassifier(MethodClassifier):
    def __init__(self, dim, num_classes, scale, margin):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(num_classes, dim) / dim**0.5)
        self.scale, self.margin = scale, margin

    def forward(self, features):
        return F.normalize(features, dim=1) @ F.normalize(self.weight, dim=1).T

    def loss(self, outputs, features, targets):
        margin = self.margin * F.one_hot(targets, outputs.shape[1]).to(outputs.dtype)
        return F.cross_entropy(self.scale * (outputs - margin), targets)


class CosFace(Method):
    name = "cosface"
    params = {
        "scale": Option(float, 16.0, "the logits' scale s", low=0, low_open=True),
        "margin": Option(float, 0.2, "the cosine margin m of the true class", low=0),
    }

    def classifier(self, dim, assets, run):
        return CosineClassifier(dim, assets.num_classes, run.params["scale"], run.params["margin"])


METHOD = CosFace()
'''


def copy_of_the_repository(target):
    """The working tree as a fresh clone would have it (tracked and untracked, not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def test_a_new_method_is_one_module_plus_config_lines(tmp_path):
    repo = copy_of_the_repository(tmp_path / "repo")
    (repo / "src/haframe/methods/cosface.py").write_text(COSFACE)
    config = tiny_config(seeds=[0])
    config["variants"] = {"cosface": {"method": "cosface", "head": "II", "scale": 16.0, "margin": 0.2}}
    config["datasets"]["synthetic"]["synthetic"].update(train_per_class=40, val_per_class=10, test_per_class=20)
    config["datasets"]["synthetic"]["training"].update(epochs=6, batch_size=32)
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    env = {**os.environ, "PYTHONPATH": str(repo / "src")}  # the copy's library, not the installed one
    result = subprocess.run(
        [
            str(SNAKEMAKE),
            "--snakefile",
            str(repo / "workflow/Snakefile"),
            "--directory",
            str(workdir),
            "--configfile",
            str(workdir / "config.yaml"),
            "--cores",
            "2",
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    metrics = json.loads((workdir / "results/tiny/synthetic/runs/cosface/seed0/metrics.json").read_text())
    assert metrics["method"] == "cosface" and metrics["n_test"] == 9 * 20
    assert metrics["top1_error"] < 100.0 * (1 - 1 / 9) - 15  # beats chance
    row = (workdir / "results/tiny/report/tables/synthetic.md").read_text()
    assert "| cosface | 1 |" in row
    # the contract suite covers the new method with no test edit
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider", "-k", "cosface", "tests/contract"],
        cwd=repo,
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-4000:]
    assert "2 passed" in result.stdout  # cosface-I and cosface-II
