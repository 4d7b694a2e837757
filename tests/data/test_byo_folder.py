"""Bring your own data: an image folder plus a hierarchy file trains through the DAG on CPU."""

import json
import shutil

import pytest
from conftest import run_snakemake, tiny_config

from haframe.data.kinds import folder

pytestmark = pytest.mark.dag


def mine(images, hierarchy, keys: dict | None = None) -> dict:
    """The tiny study on one folder dataset ``mine`` (one seed), ``keys`` added to its section."""
    config = tiny_config(seeds=[0])
    config["datasets"] = {
        "mine": {
            "kind": "folder",
            "folder": str(images),
            "hierarchy": {"source": str(hierarchy), "format": "tsv"},
            "frame": {"gamma": 1.0},
            **(keys or {}),
        }
    }
    return config


def test_image_folder_with_hierarchy_file_trains_through_the_dag(tmp_path):
    """From a pixel store, with the published transforms (haframe) and with the resize and flip
    on the device (haframe_on_device)."""
    images = tmp_path / "my_images"
    fixture = folder.fixture(images)
    hierarchy = tmp_path / "hierarchy.tsv"
    hierarchy.write_text("# my hierarchy\n" + fixture.hierarchy.to_tsv())
    config = tiny_config(seeds=[0])
    config["variants"] = {
        "haframe": config["variants"]["haframe"],
        "haframe_on_device": {**config["variants"]["haframe"], "training": {"augment_on": "device"}},
    }
    config["datasets"] = {
        "pets_and_cars": {
            "kind": "folder",
            "folder": str(images),
            "hierarchy": {"source": str(hierarchy), "format": "tsv"},
            "transform": "imagenet",
            "input_size": 32,
            "resize": 32,
            "store": "pixels",
            "frame": {"gamma": 1.0},
            "training": {"epochs": 1, "batch_size": 8, "lr_scale": {"backbone": 1.0}},
        }
    }
    run_snakemake(tmp_path / "work", config, "results/tiny/report/tables/pets_and_cars.md")  # what it reads: no MLflow
    results = tmp_path / "work" / "results" / "tiny" / "pets_and_cars"
    meta = json.loads((results / "data/meta.json").read_text())
    assert meta["counts"] == {"train": 24, "val": 8, "test": 12}
    assert meta["pixels"]["train"] == "pixels/train.npy" and (results / "data/pixels/train.npy").is_file()
    assert (results / "data/classes.txt").read_text().split() == list(fixture.hierarchy.classes)
    summary = json.loads((results / "hierarchy/summary.json").read_text())
    assert summary["height"] == 2 and summary["num_classes"] == 4
    paths = {
        "haframe": "pixel store, the published transforms in the workers",
        "haframe_on_device": "pixel store, cropped in the workers, resized and flipped on the device",
    }
    for variant, path in paths.items():
        metrics = json.loads((results / f"runs/{variant}/seed0/metrics.json").read_text())
        assert metrics["n_test"] == 12 and metrics["data_path"] == path
    table = (tmp_path / "work/results/tiny/report/tables/pets_and_cars.md").read_text()
    assert all(f"training data path: {path}" in table for path in paths.values())


def test_a_tree_and_folders_that_disagree_are_refused_at_the_dry_run_naming_both_sides(tmp_path):
    """Issue 26: a leaf without a folder passed the dry run and failed after 3 jobs naming only
    the folder."""
    images = tmp_path / "my_images"
    fixture = folder.fixture(images, per_split=(1, 1, 1))
    (images / "train" / "horse").mkdir()  # a folder that is no leaf
    shutil.rmtree(images / "train" / "bus")  # a leaf without training images
    hierarchy = tmp_path / "hierarchy.tsv"
    hierarchy.write_text(fixture.hierarchy.to_tsv())
    config = mine(images, hierarchy, {"training": {"batch_size": 2}})
    result = run_snakemake(tmp_path / "work", config, "--dry-run", check=False)
    assert result.returncode != 0
    printed = result.stdout + result.stderr
    assert f"datasets.mine: the hierarchy and the folder {images} disagree" in printed
    assert f"leaves without a {images}/train/<leaf> folder of images: ['bus']" in printed
    assert "class folders that are no leaf of the hierarchy: ['horse']" in printed
    assert not (tmp_path / "work" / "results").exists()


def test_a_folder_smaller_than_a_batch_is_refused_before_any_job(tmp_path):
    images = tmp_path / "my_images"
    fixture = folder.fixture(images, per_split=(1, 1, 1))
    hierarchy = tmp_path / "hierarchy.tsv"
    hierarchy.write_text(fixture.hierarchy.to_tsv())
    config = mine(images, hierarchy)
    result = run_snakemake(tmp_path / "work", config, "--dry-run", check=False)
    assert result.returncode != 0
    assert (
        "training.batch_size = 64 exceeds the 4 training images of 'mine', so training would run zero steps"
        in result.stdout
    )
    assert not (tmp_path / "work" / "results").exists()


def test_a_local_hierarchy_is_identified_by_its_content_and_never_pinned(tmp_path):
    """Issue 25, items 2 and 7: editing the file retrains on the new tree, a touch retrains
    nothing, and a second study with the same dataset name and another tree runs."""
    images = tmp_path / "my_images"
    fixture = folder.fixture(images)
    hierarchy = tmp_path / "hierarchy.tsv"
    hierarchy.write_text(fixture.hierarchy.to_tsv())
    keys = {"transform": "imagenet", "input_size": 32, "training": {"epochs": 1, "batch_size": 8}}
    config = mine(images, hierarchy, keys)
    config["variants"] = {"haframe": config["variants"]["haframe"]}
    work, metrics = tmp_path / "work", "results/tiny/mine/runs/haframe/seed0/metrics.json"
    run_snakemake(work, config, metrics)
    hierarchy.touch()
    assert "Nothing to be done" in run_snakemake(work, config, metrics, "--dry-run").stdout
    classes = list(fixture.hierarchy.classes)  # regrouped: the first and the last class swap parents
    paths = [list(path) for path in fixture.hierarchy.paths]
    paths[0][-2], paths[-1][-2] = paths[-1][-2], paths[0][-2]
    hierarchy.write_text("".join("\t".join(path) + "\n" for path in paths))
    planned = run_snakemake(work, config, metrics, "--dry-run").stdout
    assert all(f"rule {rule}:" in planned for rule in ("parse_hierarchy", "solve_frame", "train", "evaluate"))
    run_snakemake(work, config, metrics)
    tsv = (work / "results/tiny/mine/hierarchy/hierarchy.tsv").read_text()
    assert f"\t{paths[0][-2]}\t{classes[0]}\n" in tsv  # trained on the new tree
    other = tmp_path / "other.tsv"  # another study, the same dataset name, the first tree
    other.write_text(fixture.hierarchy.to_tsv())
    config["study"] = "other"
    config["datasets"]["mine"]["hierarchy"]["source"] = str(other)
    run_snakemake(work, config, "results/other/mine/runs/haframe/seed0/metrics.json")
    assert (
        not (work / "data/downloads.lock.yaml").exists()
        or "mine" not in (work / "data/downloads.lock.yaml").read_text()
    )


def test_the_dry_run_summary_counts_an_image_folder_s_classes_and_disk(tmp_path):
    """Issue 26: the summary showed `classes -` and 1.96 GB of disk for a 3.3 MB folder."""
    images = tmp_path / "my_images"
    fixture = folder.fixture(images)
    hierarchy = tmp_path / "hierarchy.tsv"
    hierarchy.write_text(fixture.hierarchy.to_tsv())
    config = mine(images, hierarchy, {"training": {"batch_size": 8}})
    result = run_snakemake(tmp_path / "work", config, "--dry-run")
    line = next(line for line in result.stderr.splitlines() if line.startswith("  mine "))
    assert line.split()[1:6] == ["4", "24", "/", "8", "/"] and line.split()[-1] == "0.01", line
