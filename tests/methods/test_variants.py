"""Every variant of the study trains on the synthetic dataset through the DAG and beats chance;
the bf16 autocast and channels_last paths run on the CPU; a frozen frame stays bit-identical."""

import csv
import json

import pytest
import torch
import yaml
from conftest import REPO, run_snakemake, tiny_config

from haframe.collapse import COLUMNS

pytestmark = pytest.mark.dag

# every variant of the paper study, each run on the synthetic dataset (whichever datasets it lists there)
STUDY = {
    name: {key: value for key, value in spec.items() if key != "datasets"}
    for name, spec in yaml.safe_load((REPO / "config" / "config.yaml").read_text())["variants"].items()
}


@pytest.fixture(scope="module")
def all_variants(tmp_path_factory):
    config = tiny_config(seeds=[0])
    config["variants"] = STUDY
    ds = config["datasets"]["synthetic"]
    ds["synthetic"].update(train_per_class=40, val_per_class=10, test_per_class=20)
    ds["training"].update(epochs=6, batch_size=32, nc_every=2)
    config["variants"]["bf16_channels_last"] = {
        "method": "haframe",
        "head": "II",
        "alpha": 0.4,
        "training": {"precision": "bf16", "channels_last": True},
    }
    workdir = tmp_path_factory.mktemp("variants")
    # what these tests read: every run and the dataset's tables (no MLflow import, no study report)
    run_snakemake(workdir, config, "results/tiny/report/tables/synthetic.md")
    return workdir / "results" / "tiny" / "synthetic"


@pytest.mark.parametrize("variant", [*STUDY, "bf16_channels_last"])
def test_variant_beats_chance(all_variants, variant):
    metrics = json.loads((all_variants / f"runs/{variant}/seed0/metrics.json").read_text())
    chance = 100.0 * (1 - 1 / 9)
    assert metrics["n_test"] == 180
    assert metrics["top1_error"] < chance - 15, metrics["top1_error"]


POSTHOC = [(name, rule) for name, spec in STUDY.items() for rule in spec.get("posthoc", [])]


@pytest.mark.parametrize("variant, chain", POSTHOC, ids=[f"{v}+{c}" for v, c in POSTHOC])
def test_posthoc_chain_beats_chance(all_variants, variant, chain):
    metrics = json.loads((all_variants / f"runs/{variant}/seed0/metrics.json").read_text())[chain]
    assert metrics["n_test"] == 180 and metrics["top1_error"] < 100.0 * (1 - 1 / 9) - 15, metrics["top1_error"]


def test_hie_shares_one_coarse_model_per_head_that_learns_the_parents(all_variants):
    assert sorted(p.name for p in (all_variants / "runs").glob("hie_coarse*")) == ["hie_coarse_I", "hie_coarse_II"]
    with open(all_variants / "runs/hie_coarse_II/seed0/history.csv") as handle:
        last = list(csv.DictReader(handle))[-1]
    parents = 3  # the synthetic tree of tiny_config: 9 leaves below 3 parents
    assert float(last["val_top1_error"]) < 100.0 * (1 - 1 / parents) - 15, last


@pytest.mark.parametrize("variant", [*STUDY, "bf16_channels_last"])
def test_variant_writes_its_neural_collapse_rows(all_variants, variant):
    with open(all_variants / f"runs/{variant}/seed0/nc.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == [2, 4, 6]
    # Hier-COS predicts by sign-free path-subspace norms: no class vectors, no self-duality
    absent = (
        {"self_duality_raw", "self_duality_centred"} if STUDY.get(variant, {}).get("method") == "hiercos" else set()
    )
    for row in rows:
        assert all((row[column] == "") == (column in absent) for column in COLUMNS), row
        assert float(row["nc1"]) > 0


def test_frozen_frame_stays_bit_identical(all_variants):
    from haframe.fileio import load_npz
    from haframe.frames import draw_frame

    solved = load_npz(all_variants / "frames/haframe.npz")
    for variant in ("haframe", "haframe_fixed"):
        state = torch.load(all_variants / f"runs/{variant}/seed0/checkpoint.pt", weights_only=True)
        expected = torch.from_numpy(draw_frame(solved["factor"], 9, 0)).float()
        assert torch.equal(state["model"]["classifier.weight"], expected)
    etf = load_npz(all_variants / "frames/etf.npz")
    state = torch.load(all_variants / "runs/etf_fixed/seed0/checkpoint.pt", weights_only=True)
    assert torch.equal(state["model"]["classifier.weight"], torch.from_numpy(draw_frame(etf["factor"], 9, 0)).float())


def test_table_has_every_variant_and_crm_rows(all_variants):
    text = (all_variants.parent / "report/tables/synthetic.md").read_text()
    for variant in STUDY:
        assert f"| {variant} |" in text
    assert "| ce_I+crm |" in text and "| ce_II+crm |" in text
