"""The paper's four hierarchies and frames through the DAG (`snakemake frames`), offline:
sources point at the reference files (tests/reference_files.py) instead of the pinned upstream URLs."""

import json

import numpy as np
import pytest
import yaml
from conftest import REPO, distance_matrix_from_dict, load_distance_dict, run_snakemake
from reference_files import reference_file

pytestmark = pytest.mark.dag

PAPER = {  # dataset: (K, height, grid s, exact s, reference folder)
    "cifar100": (100, 5, -0.300071, -0.305739, "cifar100"),
    "fgvc_aircraft": (100, 3, -0.610040, -0.614669, "fgvc_aircraft"),
    "inat19": (1010, 7, -0.031264, -0.032024, "inat19"),
    "tiered_imagenet": (608, 12, -0.072238, -0.079478, "tiered_imagenet"),
}


def offline_paper_config() -> dict:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for name, ds in config["datasets"].items():
        local = reference_file(f"hierarchies/{PAPER[name][4]}/tree.pkl")
        ds["hierarchy"]["source"] = local.as_uri()
    return config


@pytest.fixture(scope="module")
def paper_run(tmp_path_factory):
    """() -> the results of `snakemake frames` on the paper's hierarchies, run once, at the first
    call: in a test, where an absent reference file skips with the same line as in every other
    test (pytest reports a skip raised in a fixture at each test that uses it)."""
    outcome = []

    def paper_frames():
        if not outcome:
            config = offline_paper_config()  # skips here where a reference file is absent
            workdir = tmp_path_factory.mktemp("paper")
            try:
                run_snakemake(workdir, config, "frames")
                outcome.append(workdir / "results" / "paper")
            except AssertionError as error:  # fails every test, as a failed fixture did, without rerunning
                outcome.append(error)
        if isinstance(outcome[0], AssertionError):
            raise outcome[0]
        return outcome[0]

    return paper_frames


@pytest.mark.parametrize("dataset", list(PAPER))
def test_hierarchy_and_frame_stages_reproduce_the_paper(paper_run, dataset):
    paper_frames = paper_run()
    K, height, grid_s, exact_s, _ = PAPER[dataset]
    hierarchy = json.loads((paper_frames / dataset / "hierarchy/summary.json").read_text())
    assert (hierarchy["num_classes"], hierarchy["height"]) == (K, height)
    frame = json.loads((paper_frames / dataset / "frames/summary.json").read_text())
    assert frame["s"] == pytest.approx(grid_s, abs=1e-6)
    assert frame["exact_s"] == pytest.approx(exact_s, abs=1e-6)
    assert frame["max_abs_WWt_minus_S"]["haframe"] < 1e-8
    assert (paper_frames / dataset / "frames/cosines.png").stat().st_size > 1000
    assert (paper_frames / dataset / "hierarchy/distance_histogram.png").stat().st_size > 1000


def test_distance_matrix_file_equals_the_published_distances(paper_run):
    paper_frames = paper_run()
    tsv = (paper_frames / "tiered_imagenet/hierarchy/hierarchy.tsv").read_text().splitlines()
    classes = [line.split("\t")[-1] for line in tsv if not line.startswith("#")]
    D = np.load(paper_frames / "tiered_imagenet/hierarchy/distances.npy")
    reference = load_distance_dict(reference_file("hierarchies/tiered_imagenet/distances.pkl.xz"))
    assert np.array_equal(D, distance_matrix_from_dict(reference, classes))


def test_cifar_classes_follow_the_torchvision_index(paper_run):
    paper_frames = paper_run()
    tsv = (paper_frames / "cifar100/hierarchy/hierarchy.tsv").read_text().splitlines()
    classes = [line.split("\t")[-1] for line in tsv if not line.startswith("#")]
    assert classes == [f"L5-{i}" for i in range(100)]


def one_dataset_config(**changes) -> dict:
    config = offline_paper_config()
    config["datasets"] = {"fgvc_aircraft": config["datasets"]["fgvc_aircraft"]}
    del config["variants"]["ce_I_wide"]  # it runs on iNat19 and tieredImageNet-H only
    config["datasets"]["fgvc_aircraft"].update(changes)
    return config


def test_a_local_hierarchy_with_a_wrong_sha256_is_refused_before_any_job(tmp_path):
    config = one_dataset_config()
    config["datasets"]["fgvc_aircraft"]["hierarchy"]["sha256"] = "0" * 64
    result = run_snakemake(tmp_path, config, "frames", check=False)
    assert result.returncode != 0
    assert "datasets.fgvc_aircraft.hierarchy.sha256: " + "0" * 64 in result.stderr
    assert "6c8203d210c0362f9e604cc37f654e68cfdb4a1ad91a52de60f06bc39ffa034c" in result.stderr
    assert not (tmp_path / "results").exists()


def test_expected_height_is_checked_before_any_job(tmp_path):
    result = run_snakemake(tmp_path, one_dataset_config(height=4), "frames", check=False)
    assert result.returncode != 0
    assert "datasets.fgvc_aircraft.height: 4, but its hierarchy file" in result.stderr
    assert "has height 3" in result.stderr
    assert not (tmp_path / "results").exists()
