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


def test_wrong_sha256_stops_the_download_and_leaves_nothing(tmp_path):
    config = offline_paper_config()
    config["datasets"] = {"fgvc_aircraft": config["datasets"]["fgvc_aircraft"]}
    del config["variants"]["ce_I_wide"]  # it runs on iNat19 and tieredImageNet-H only
    config["datasets"]["fgvc_aircraft"]["hierarchy"]["sha256"] = "0" * 64
    result = run_snakemake(tmp_path, config, "frames", check=False)
    assert result.returncode != 0
    log = (tmp_path / "results/paper/fgvc_aircraft/logs/download_hierarchy/tree.pkl.log").read_text()
    assert "sha256 mismatch" in log and "0" * 64 in log
    assert "6c8203d210c0362f9e604cc37f654e68cfdb4a1ad91a52de60f06bc39ffa034c" in log
    source = tmp_path / "results/paper/fgvc_aircraft/hierarchy/source"
    assert not source.exists() or not any(source.iterdir())


def test_expected_height_is_checked(tmp_path):
    config = offline_paper_config()
    config["datasets"] = {"fgvc_aircraft": config["datasets"]["fgvc_aircraft"]}
    del config["variants"]["ce_I_wide"]  # it runs on iNat19 and tieredImageNet-H only
    config["datasets"]["fgvc_aircraft"]["height"] = 4
    result = run_snakemake(tmp_path, config, "frames", check=False)
    assert result.returncode != 0
    log = (tmp_path / "results/paper/fgvc_aircraft/logs/parse_hierarchy.log").read_text()
    assert "expected height = 4 (config), found 3" in log
