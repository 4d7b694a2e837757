"""The `pretrained` section (haframe.pretrained) and the imagenet1k kind's labels: what a user
of config/pretrained_imagenet.yaml meets before any job."""

import copy
import tarfile
from pathlib import Path

import pytest
import yaml
from conftest import REPO, tiny_config

from haframe.data.kinds import KINDS, PrepareJob
from haframe.data.kinds.imagenet1k import GROUND_TRUTH
from haframe.data.prepared import DataError
from haframe.runs import ConfigError
from haframe.study import Study, load_config

SHIPPED = yaml.safe_load((REPO / "config" / "pretrained_imagenet.yaml").read_text())


def study_of(mutate=lambda config: None) -> Study:
    config = copy.deepcopy(SHIPPED)
    mutate(config)
    return Study(load_config(config, "pretrained_imagenet.yaml"))


def test_the_shipped_config_evaluates_the_issue_s_models_and_trains_nothing():
    study = study_of()
    assert len(study.pretrained.models) == 11 and study.pretrained.posthoc == ("crm",)
    assert study.variants("imagenet1k") == [] and study.runs("imagenet1k") == []


@pytest.mark.parametrize(
    "mutate, message",
    [
        (
            lambda c: c["pretrained"]["models"].append("ResNet50_Weights.DEFAULT"),
            "pretrained.models[11]: unknown classifier 'ResNet50_Weights.DEFAULT'; known: [",
        ),
        (lambda c: c["pretrained"].update(dataset="imagenet"), "pretrained.dataset: 'imagenet' is not a dataset"),
        (
            lambda c: c["pretrained"].update(posthoc=["hie+crm"]),
            "pretrained.posthoc[0]: 'hie+crm': hie needs an auxiliary model",
        ),
        (lambda c: c["pretrained"].update(posthoc=["magic"]), "pretrained.posthoc[0]: unknown post-hoc rule 'magic'"),
        (
            lambda c: c["pretrained"].update(
                weights={"VGG19_Weights.IMAGENET1K_V1": {"source": "x", "sha256": "0" * 64}}
            ),
            "pretrained.weights.VGG19_Weights.IMAGENET1K_V1: not one of pretrained.models",
        ),
        (
            lambda c: c["datasets"]["imagenet1k"]["hierarchy"].update(class_order="index_suffix"),
            "datasets.imagenet1k.hierarchy.class_order: the classifiers' outputs are in ILSVRC's order",
        ),
        (lambda c: c.pop("pretrained"), "variants: at least one variant is required (or a `pretrained` section)"),
    ],
)
def test_a_bad_pretrained_section_is_refused_naming_the_field(mutate, message):
    with pytest.raises(ConfigError) as error:
        study_of(mutate)
    assert message in str(error.value)


def test_the_classifiers_need_a_dataset_of_imagenet1k_s_classes():
    config = load_config(
        {**tiny_config(), "pretrained": {"dataset": "synthetic", "models": ["VGG16_Weights.IMAGENET1K_V1"]}}, None
    )
    with pytest.raises(ConfigError, match="pretrained.dataset: 'synthetic' is of kind 'synthetic'"):
        Study(config)


def test_variants_beside_the_classifiers_train_on_the_other_datasets_only():
    config = tiny_config()
    config["datasets"]["imagenet1k"] = copy.deepcopy(SHIPPED["datasets"]["imagenet1k"])
    config["pretrained"] = {"dataset": "imagenet1k", "models": ["VGG16_Weights.IMAGENET1K_V1"]}
    study = Study(load_config(config, None))
    assert study.variants("imagenet1k") == [] and study.variants("synthetic") == ["ce_II", "haframe"]


# ---------------------------------------------------------------------- the kind's labels


def prepared_rows(fixture, options: dict, tmp_path: Path, name: str = "imagenet1k") -> list[str]:
    kind = KINDS["imagenet1k"]
    inputs = {key: Path(value) for key, value in kind.user_inputs(options, name).items()}
    meta = tmp_path / "data" / "meta.json"
    kind.prepare(PrepareJob(name, {**options, "counts": fixture.counts}, inputs, fixture.hierarchy, meta))
    return meta.with_name("test.csv").read_text().splitlines()


def test_class_folders_and_the_devkit_label_every_image_alike(tmp_path):
    fixture = KINDS["imagenet1k"].fixture(tmp_path / "fixture")
    from_devkit = prepared_rows(fixture, {"imagenet": fixture.options["imagenet"]}, tmp_path / "a")
    folder = str(tmp_path / "fixture" / "val")
    from_folders = prepared_rows(fixture, {"imagenet": {"val": folder, "devkit": None}}, tmp_path / "b")
    assert from_devkit == from_folders and len(from_devkit) == 1 + 6
    images = tmp_path / "a" / "data" / "images" / "test"
    assert all(  # byte for byte: each model's preprocessing reads the original file
        (images / wnid / file.name).read_bytes() == file.read_bytes()
        for wnid in sorted(p.name for p in images.iterdir())
        for file in (tmp_path / "fixture" / "val" / wnid).iterdir()
    )


def test_images_that_name_no_class_are_refused_before_any_job(tmp_path):
    fixture = KINDS["imagenet1k"].fixture(tmp_path / "fixture")
    flat = tmp_path / "flat"
    flat.mkdir()
    with pytest.raises(DataError, match=r"imagenet.val = .*ILSVRC2012_img_val.tar is a tar of flat files"):
        KINDS["imagenet1k"].user_inputs({"imagenet": {"val": fixture.options["imagenet"]["val"]}}, "imagenet1k")
    with pytest.raises(DataError, match="holds no n######## class subfolders"):
        KINDS["imagenet1k"].user_inputs({"imagenet": {"val": str(flat)}}, "imagenet1k")


def test_a_devkit_without_its_ground_truth_is_named(tmp_path):
    fixture = KINDS["imagenet1k"].fixture(tmp_path / "fixture")
    devkit = tmp_path / "devkit.tar.gz"
    with tarfile.open(devkit, "w:gz") as tar:
        tar.add(fixture.options["imagenet"]["val"], arcname="something_else.tar")
    options = {"imagenet": {"val": fixture.options["imagenet"]["val"], "devkit": str(devkit)}}
    with pytest.raises(DataError, match=f"lacks {GROUND_TRUTH}, .*is it ILSVRC2012_devkit_t12.tar.gz"):
        prepared_rows(fixture, options, tmp_path)


def test_an_image_of_a_class_the_hierarchy_lacks_is_named(tmp_path):
    fixture = KINDS["imagenet1k"].fixture(tmp_path / "fixture")
    stray = tmp_path / "fixture" / "val" / "n09999999"
    stray.mkdir()
    (stray / "ILSVRC2012_val_00000099.JPEG").write_bytes(
        next((tmp_path / "fixture" / "val").rglob("*.JPEG")).read_bytes()
    )
    options = {"imagenet": {"val": str(tmp_path / "fixture" / "val"), "devkit": None}}
    with pytest.raises(DataError, match=r"1 of the images are of classes the hierarchy lacks, e.g. \[.*n09999999"):
        prepared_rows(fixture, options, tmp_path)
