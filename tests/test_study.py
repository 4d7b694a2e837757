"""The study config resolved into typed runs (haframe.study, haframe.runs): precedence, identity,
the round trip through a run directory, and refusals that name the field."""

import copy

import pytest
import yaml

from conftest import REPO, tiny_config
from haframe.data.kinds import KINDS
from haframe.runs import ConfigError, RunSpec
from haframe.study import Study

STUDY = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def test_runs_resolve_with_the_documented_precedence():
    config = tiny_config()
    config["training"]["lr"] = 0.2
    config["datasets"]["synthetic"]["training"]["lr"] = 0.3  # dataset beats global
    config["variants"]["haframe"]["training"] = {"lr": 0.4, "momentum": 0.5}  # variant beats dataset
    config["datasets"]["synthetic"]["variants"] = {"haframe": {"training": {"lr": 0.6}}, "ce_II": {}}
    study = Study(config)
    haframe, ce = study.run("synthetic", "haframe", 1), study.run("synthetic", "ce_II", 1)
    assert (haframe.training.lr, haframe.training.momentum) == (0.6, 0.5)  # dataset override of the variant wins
    assert (ce.training.lr, ce.training.momentum) == (0.3, 0.9)
    assert haframe.params == {"alpha": 0.4} and ce.params == {} and ce.posthoc == ("crm",)
    assert haframe.training.lr_scale.backbone == 1.0 and haframe.training.lr_scale.head == 1.0  # merged key by key


def test_run_spec_survives_its_run_directory_and_hashes_without_resources():
    run = Study(tiny_config()).run("synthetic", "haframe", 0)
    again = RunSpec.from_dict(yaml.safe_load(yaml.safe_dump(run.to_dict())))
    assert again == run and again.identity_hash() == run.identity_hash()
    config = tiny_config()
    config["training"].update(threads=2, workers=3)
    assert Study(config).run("synthetic", "haframe", 0).identity_hash() == run.identity_hash()
    config["datasets"]["synthetic"]["training"]["epochs"] = 7
    assert Study(config).run("synthetic", "haframe", 0).identity_hash() != run.identity_hash()
    assert run.name == "synthetic/haframe/seed0"


def test_the_paper_study_resolves_every_run_with_the_authors_hafeature_levels():
    study = Study(STUDY)
    assert sum(len(study.runs(d)) for d in study.datasets) == 4 * 13 * 5 + 2
    assert sum(len(study.training_runs(d)) for d in study.datasets) == 4 * 13 * 5 + 2 + 4 * 5  # + HiE's coarse models
    coarse = study.auxiliary_runs_of(study.run("inat19", "ce_II", 3))["hie_coarse"]
    assert (coarse.variant, coarse.method, coarse.seed, coarse.head) == ("hie_coarse_II", "hie_coarse", 3, "II")
    assert coarse.training == study.run("inat19", "ce_II", 3).training  # the amended variant's recipe
    assert study.run("cifar100", "hafeature_II", 0).params["margin_levels"] == [1, 2, 3, 4]
    assert study.run("tiered_imagenet", "hafeature_I", 3).params["margin_levels"] == [1, 2, 3, 4, 5, 6, 7]
    assert study.run("inat19", "hxe", 0).params == {"decay": 0.1}


def test_the_schema_kind_enum_is_the_registry():
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    enum = schema["properties"]["datasets"]["additionalProperties"]["properties"]["kind"]["enum"]
    assert sorted(enum) == sorted(KINDS)


def refused(mutate) -> str:
    config = tiny_config()
    mutate(config)
    with pytest.raises(ConfigError) as error:
        Study(config)
    return str(error.value)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda c: c["variants"].update(hxe={"method": "hxe", "head": "II", "alpha": 0.1}),
         "variants.hxe.alpha: hxe calls this parameter 'decay' now"),
        (lambda c: c["variants"]["haframe"].update(beta=2),
         "variants.haframe.beta: not a parameter of method 'haframe' (it has ['alpha'])"),
        (lambda c: c["variants"]["ce_II"].update(head="III"), "variants.ce_II.head: method 'ce' supports heads ['I', 'II']"),
        (lambda c: c["variants"]["ce_II"].update(posthoc=["crm", "magic"]), "variants.ce_II.posthoc: unknown rule 'magic'"),
        (lambda c: c["datasets"]["synthetic"].update(variants={"haframe": {"training": {"epoch": 3}}}),
         "datasets.synthetic.variants.haframe.training.epoch: unknown key"),
        (lambda c: c["datasets"]["synthetic"]["training"].update(batch_size=32.0),
         "datasets.synthetic.training.batch_size: expected an integer, got 32.0"),
        (lambda c: c["training"].update(lr=float("inf")), "training.lr: expected a finite number, got inf"),
        (lambda c: c["datasets"]["synthetic"].update(imagenet={"train": None}),
         "datasets.synthetic.imagenet: not an option of kind 'synthetic'"),
        (lambda c: c["datasets"].update(mine={"kind": "folder", "frame": {"gamma": 1.0}, "hierarchy": {"source": "h.tsv", "format": "tsv"}}),
         "datasets.mine.folder: required for kind 'folder'"),
        (lambda c: c["datasets"].update(mine={"kind": "cifar100", "frame": {"gamma": 1.0}}),
         "datasets.mine.hierarchy: required for kind 'cifar100'"),
        (lambda c: c["datasets"]["synthetic"]["training"].update(batch_size=512),  # 24 x 9 = 216 training images
         "datasets.synthetic.variants.ce_II: training.batch_size = 512 exceeds the 216 training images of 'synthetic', "
         "so training would run zero steps"),
    ],
    ids=["hxe-alpha", "foreign-param", "head", "posthoc", "override-key", "integer", "finite", "kind-option", "folder",
         "hierarchy", "zero-steps"],
)
def test_bad_configs_are_refused_naming_the_field(mutate, message):
    assert message in refused(mutate)


def test_the_config_is_not_modified_by_resolution():
    config = tiny_config()
    before = copy.deepcopy(config)
    study = Study(config)
    study.runs("synthetic")
    assert config == before


def test_variants_sharing_an_auxiliary_model_must_share_its_recipe():
    config = tiny_config()
    config["variants"]["ce_II"]["posthoc"] = ["hie"]
    config["variants"]["other"] = {"method": "ce", "head": "II", "posthoc": ["hie"], "training": {"lr": 0.05}}
    with pytest.raises(ConfigError, match="share the auxiliary model 'hie_coarse_II'"):
        Study(config)
    config["variants"]["other"]["training"] = {}
    study = Study(config)
    assert [r.variant for r in study.training_runs("synthetic")].count("hie_coarse_II") == 2  # one per seed, shared


def test_an_auxiliary_only_method_is_not_a_variant():
    config = tiny_config()
    config["variants"]["coarse"] = {"method": "hie_coarse", "head": "II"}
    with pytest.raises(ConfigError, match="variants.coarse.method: 'hie_coarse' is trained only"):
        Study(config)
