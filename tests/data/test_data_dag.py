"""The data stage in the DAG: the study's download and preparation jobs, pinned sources, and
the instructions when tieredImageNet-H's ImageNet files are missing."""

import re

import pytest
import yaml
from conftest import REPO, SHARED, run_snakemake
from reference_files import PINNED, reference_file

from haframe.data.kinds import KINDS, inat19, tiered_imagenet
from haframe.fileio import sha256_of


def study_config(**imagenet) -> dict:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["datasets"]["tiered_imagenet"]["imagenet"] = imagenet or {"train": None, "val": None}
    return config


def imagenet_shaped_folders(root):
    train, val = root / "ILSVRC2012_train", root / "ILSVRC2012_val"
    (train / "n01440764").mkdir(parents=True)
    (train / "n01440764" / "n01440764_10026.JPEG").write_bytes(b"")
    val.mkdir()
    (val / "ILSVRC2012_val_00000001.JPEG").write_bytes(b"")
    return {"train": str(train), "val": str(val)}


@pytest.mark.dag
def test_dry_run_lists_the_whole_study(tmp_path):
    config = study_config(**imagenet_shaped_folders(tmp_path))
    result = run_snakemake(tmp_path / "work", config, "--dry-run")
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout, flags=re.M))
    assert counts["download_source"] == "5"  # cifar, fgvc, inat images + lists, tiered lists
    assert counts["extract_source"] == "5"
    assert counts["prepare_dataset"] == "4"  # cifar100, fgvc_aircraft, inat19, tiered_imagenet
    assert counts["download_hierarchy"] == "4"
    assert counts["download_weights"] == "2"  # torchvision IMAGENET1K_V1 and PASS MoCo-v2
    # the 15 variants x 4 datasets x 5 seeds, the two wide-head runs, HiE's coarse model per (dataset, seed, head)
    assert counts["train"] == counts["import_run"] == str(4 * 15 * 5 + 2 + 4 * 5 * 2)
    assert counts["evaluate"] == counts["train"]  # every model's scores, the coarse ones' too (HiE reads them)
    assert counts["assemble_metrics"] == str(4 * 15 * 5 + 2)
    assert counts["report_dataset"] == "4"
    trained = re.findall(
        r"^rule train:.*?wildcards: dataset=(\w+), variant=(\w+), seed=(\d)", result.stdout, flags=re.M | re.S
    )
    for variant in ("hie_coarse_II", "bilt", "hiercos"):
        assert sorted((d, s) for d, v, s in trained if v == variant) == sorted(
            (d, str(s)) for d in config["datasets"] for s in range(5)
        ), variant


@pytest.mark.dag
def test_without_imagenet_the_study_runs_without_tiered_and_says_so(tmp_path):
    result = run_snakemake(tmp_path / "work", study_config(), "--dry-run")
    output = result.stdout + result.stderr
    assert "dataset 'tiered_imagenet' is left out of this run: the ImageNet ILSVRC-2012 files are not set" in output
    assert "dataset=tiered_imagenet" not in output  # no job of it
    summary = output[output.index("Study 'paper'") :].splitlines()
    assert len(summary) <= 25, summary  # one screen, at the very end
    rows = {line.split()[0]: line for line in summary if line.startswith("  ") and line.split()}
    assert "not run: the ImageNet ILSVRC-2012 files are not set" in rows["tiered_imagenet"]
    # 75 variant runs + 10 coarse models, each 100 epochs of train + val, 20 collapse passes and its scores
    # of val and test
    assert rows["cifar100"].split()[-4:-2] == ["85", f"{85 * (100 * 50_000 + 20 * 45_000 + 5_000 + 10_000):,}"]
    gpu_hours, disk = rows["cifar100"].split()[-2:]
    assert float(gpu_hours) > 0 and float(disk) > 0  # haframe.cost, tested in test_cost.py
    assert "at the model's measured rate on one NVIDIA H100 80GB HBM3 (bench/throughput.csv" in output


@pytest.mark.dag
def test_asking_for_tiered_without_imagenet_stops_with_instructions(tmp_path):
    result = run_snakemake(
        tmp_path / "work", study_config(), "results/paper/tiered_imagenet/data/meta.json", "--dry-run", check=False
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    for words in (
        "ILSVRC2012_img_train.tar",
        "ILSVRC2012_img_val.tar",
        "image-net.org",
        "datasets.tiered_imagenet.imagenet.train",
        "Ren et al.",
    ):
        assert words in output, words
    assert not (tmp_path / "work" / "results").exists()


@pytest.mark.dag
def test_an_imagenet_path_that_does_not_exist_is_refused_at_dag_build(tmp_path):
    config = study_config(train=str(tmp_path / "missing_train.tar"), val=str(tmp_path / "missing_val"))
    result = run_snakemake(tmp_path / "work", config, "--dry-run", check=False)
    assert result.returncode != 0
    assert "missing_train.tar" in result.stdout + result.stderr
    assert not (tmp_path / "work" / "results").exists()


@pytest.mark.dag
def test_frames_need_no_imagenet(tmp_path):
    result = run_snakemake(tmp_path / "work", study_config(), "frames", "--dry-run")
    assert "prepare_dataset" not in result.stdout


def test_pinned_checksums_match_the_reference_files():
    digests = {"inat19": inat19.SPLITS_DIGEST, "tiered_imagenet": tiered_imagenet.SPLITS_DIGEST}
    lists = {"inat19": "splits/inat19_split_lists.tar.xz", "tiered_imagenet": "splits/splits_tiered.zip"}
    assert KINDS["tiered_imagenet"].sources["splits"].sha256 == PINNED["splits/splits_tiered.zip"].sha256
    for name, digest in digests.items():
        assert digest == PINNED[lists[name]].lists_digest
    readme = SHARED / "reference" / "README.md"
    if readme.is_file():  # ../shared's own record, where there is one
        for digest in digests.values():
            assert digest in readme.read_text()
    # last: offline and without ../shared this one skips
    assert KINDS["tiered_imagenet"].sources["splits"].sha256 == sha256_of(reference_file("splits/splits_tiered.zip"))
