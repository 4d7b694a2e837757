"""The study config resolved into typed runs (haframe.study, haframe.runs): precedence, identity,
the round trip through a run directory, and refusals that name the field."""

import copy

import pytest
import yaml
from conftest import REPO, tiny_config

from haframe.data.kinds import KINDS
from haframe.runs import ConfigError, RunSpec
from haframe.study import Study, load_config, schema_errors

STUDY = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def test_runs_resolve_with_the_documented_precedence():
    config = tiny_config()
    config["training"]["lr"] = 0.2
    config["datasets"]["synthetic"]["training"]["lr"] = 0.3  # dataset beats global
    config["variants"]["haframe"]["training"] = {"lr": 0.4, "momentum": 0.5}  # variant beats dataset
    config["datasets"]["synthetic"]["overrides"] = {"haframe": {"training": {"lr": 0.6}}, "ce_II": {}}
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


def test_a_setting_added_later_is_recorded_only_away_from_its_default():
    """Runs recorded before training.augment_on existed keep their identity on an upgrade."""
    run = Study(tiny_config()).run("synthetic", "haframe", 0)
    assert "augment_on" not in run.to_dict()["training"] and "compile" in run.to_dict()["training"]
    config = tiny_config()
    config["training"]["augment_on"] = "device"
    on_device = Study(config).run("synthetic", "haframe", 0)
    assert (
        on_device.to_dict()["training"]["augment_on"] == "device" and on_device.identity_hash() != run.identity_hash()
    )
    for spec in (run, on_device):
        again = RunSpec.from_dict(yaml.safe_load(yaml.safe_dump(spec.to_dict())))
        assert again == spec and again.identity_hash() == spec.identity_hash()


def test_the_paper_study_resolves_every_run_with_the_authors_hafeature_levels():
    study = Study(STUDY)
    assert sum(len(study.runs(d)) for d in study.datasets) == 4 * 15 * 5 + 2
    # + HiE's coarse models, for the type-I and the type-II CE
    assert sum(len(study.training_runs(d)) for d in study.datasets) == 4 * 15 * 5 + 2 + 2 * 4 * 5
    coarse = study.auxiliary_runs_of(study.run("inat19", "ce_II", 3))["hie_coarse"]
    assert (coarse.variant, coarse.method, coarse.seed, coarse.head) == ("hie_coarse_II", "hie_coarse", 3, "II")
    assert coarse.training == study.run("inat19", "ce_II", 3).training  # the amended variant's recipe
    assert study.run("cifar100", "hafeature_II", 0).params["margin_levels"] == [1, 2, 3, 4]
    assert study.run("tiered_imagenet", "hafeature_I", 3).params["margin_levels"] == [1, 2, 3, 4, 5, 6, 7]
    assert study.run("inat19", "hxe", 0).params == {"decay": 0.1}
    bilt_like = study.run("inat19", "hxe_I", 0).training  # BiLT's HXE and soft labels: Adam at 1e-3
    assert (bilt_like.optimizer, bilt_like.lr) == ("adam", 0.001) and study.run(
        "inat19", "hxe", 0
    ).training.optimizer == "sgd"
    assert study.auxiliary_runs_of(study.run("fgvc_aircraft", "ce_I", 1))["hie_coarse"].variant == "hie_coarse_I"


def test_the_schema_kind_enum_is_the_registry():
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    enum = schema["properties"]["datasets"]["additionalProperties"]["properties"]["kind"]["enum"]
    assert sorted(enum) == sorted(KINDS)


SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
URL_TREE = {"source": "https://example.org/tree.pkl", "format": "nltk_tree"}  # a tree not known before its download


def url_dataset(**keys) -> dict:
    """A CIFAR-100 dataset whose hierarchy is downloaded (its tree unknown when the workflow is built)."""
    return {"kind": "cifar100", "frame": {"gamma": 1.0}, "hierarchy": dict(URL_TREE), **keys}


def refused(mutate) -> str:
    config = tiny_config()
    mutate(config)
    with pytest.raises(ConfigError) as error:
        Study(config)
    return str(error.value)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (
            lambda c: c["variants"].update(hxe={"method": "hxe", "head": "II", "alpha": 0.1}),
            "variants.hxe.alpha: hxe calls this parameter 'decay' now",
        ),
        (
            lambda c: c["variants"]["haframe"].update(beta=2),
            "variants.haframe.beta: not a parameter of method 'haframe' (it has ['alpha'])",
        ),
        (
            lambda c: c["variants"]["ce_II"].update(head="III"),
            "variants.ce_II.head: method 'ce' supports heads ['I', 'II']",
        ),
        (
            lambda c: c["variants"]["ce_II"].update(posthoc=["crm", "magic"]),
            "variants.ce_II.posthoc: unknown rule 'magic'",
        ),
        (
            lambda c: c["datasets"]["synthetic"].update(overrides={"haframe": {"training": {"epoch": 3}}}),
            "datasets.synthetic.overrides.haframe.training.epoch: unknown key",
        ),
        (
            lambda c: c["datasets"]["synthetic"]["training"].update(batch_size=32.0),
            "datasets.synthetic.training.batch_size: expected an integer, got 32.0",
        ),
        (lambda c: c["training"].update(lr=float("inf")), "training.lr: expected a finite number, got inf"),
        (
            lambda c: c["datasets"]["synthetic"].update(imagenet={"train": None}),
            "datasets.synthetic.imagenet: not an option of kind 'synthetic'",
        ),
        (
            lambda c: c["datasets"].update(
                mine={"kind": "folder", "frame": {"gamma": 1.0}, "hierarchy": {"source": "h.tsv", "format": "tsv"}}
            ),
            "datasets.mine.folder: required for kind 'folder'",
        ),
        (
            lambda c: c["datasets"].update(mine={"kind": "cifar100", "frame": {"gamma": 1.0}}),
            "datasets.mine.hierarchy: required for kind 'cifar100'",
        ),
        (
            lambda c: c["datasets"]["synthetic"]["training"].update(batch_size=512),  # 24 x 9 = 216 training images
            "variants.ce_II on datasets.synthetic: training.batch_size = 512 exceeds the 216 training images of "
            "'synthetic', "
            "so training would run zero steps",
        ),
        (lambda c: c.update(seeds=[0.0]), "seeds[0]: expected an integer >= 0, got 0.0"),
        (
            lambda c: c["datasets"]["synthetic"].update(overrides={"haframe": {"seeds": [1, 1.5]}}),
            "datasets.synthetic.overrides.haframe.seeds[1]: expected an integer >= 0, got 1.5",
        ),
        # the planted tree (branching [3, 3]): K = 9, height 2
        (
            lambda c: (
                c["variants"].update(hafeature_II={"method": "hafeature", "head": "II"}),
                c["datasets"]["synthetic"].update(overrides={"hafeature_II": {"margin_levels": [1, 2, 3]}}),
            ),
            "datasets.synthetic.overrides.hafeature_II.margin_levels: [1, 2, 3] must lie in 1..1, the levels between "
            "the "
            "leaves (0) and the root (2) (dataset 'synthetic': K = 9 classes and height 2, from its planted tree",
        ),
        # values the JSON schema checked before their options did (it keeps the keys only)
        (
            lambda c: c["datasets"]["synthetic"]["synthetic"].update(branching=[3.0, 3]),
            "datasets.synthetic.synthetic.branching[0]: expected an integer, got 3.0",
        ),
        (
            lambda c: c["training"].update(feature_dim=16.0),
            "training.feature_dim: expected an integer or null, got 16.0",
        ),
        (
            lambda c: c["datasets"]["synthetic"]["synthetic"].update(alignment=float("nan")),
            "datasets.synthetic.synthetic.alignment: expected a finite number, got nan",
        ),  # nan passes every bound
        (
            lambda c: c["datasets"]["synthetic"]["synthetic"].update(alignment=1.5),
            "datasets.synthetic.synthetic.alignment: expected a number in [0, 1], got 1.5",
        ),
        (
            lambda c: c["datasets"]["synthetic"].update(store="pixels"),
            "datasets.synthetic.store: not an option of kind 'synthetic'",
        ),
        (
            lambda c: c["datasets"].update(mine=url_dataset(counts={"train": [45000, 100, 1]})),
            "datasets.mine.counts.train: expected a list of 2 integers >= 0, got [45000, 100, 1]",
        ),
        (lambda c: c["training"].update(epochs=0), "training.epochs: expected an integer in [1, 100000], got 0"),
        (lambda c: c["training"]["lr_scale"].update(head=-1), "training.lr_scale.head: expected a number >= 0, got -1"),
        (
            lambda c: c["training"].update(backbone="vit"),
            "training.backbone: expected one of tiny_cnn, small_cnn, wrn28_8, resnet50, got 'vit'",
        ),
        (
            lambda c: c["datasets"]["synthetic"]["training"].update(feature_dim=4),
            "datasets.synthetic.training.feature_dim: d = 4 is smaller than the K = 9 classes; method 'haframe' uses "
            "a frame "
            "of K vectors with prescribed cosines, which needs d >= K: set it to 9 or more, or null (d = K)",
        ),
        (
            lambda c: c["variants"].update(hiercos={"method": "hiercos", "head": "II", "training": {"feature_dim": 9}}),
            "variants.hiercos.training.feature_dim: d = 9, but Hier-COS needs d = D = 12, the tree's non-root nodes",
        ),
        # a downloaded tree: the config's height and classes tell what is checked before the download
        (
            lambda c: (
                c["variants"].update(hafeature_II={"method": "hafeature", "head": "II"}),
                c["datasets"]["synthetic"].update(variants=["ce_II", "haframe"]),
                c["datasets"].update(
                    mine=url_dataset(
                        height=2, variants=["hafeature_II"], overrides={"hafeature_II": {"margin_levels": [2]}}
                    )
                ),
            ),
            "datasets.mine.overrides.hafeature_II.margin_levels: [2] must lie in 1..1, the levels between the leaves "
            "(0) and "
            "the root (2) (dataset 'mine': height 2, from datasets.mine.height)",
        ),
        (
            lambda c: (
                c["variants"].update(etf={"method": "etf", "head": "II", "training": {"feature_dim": 64}}),
                c["datasets"].update(mine=url_dataset(classes=100)),
            ),
            "variants.etf.training.feature_dim: d = 64 is smaller than the K = 100 classes; method 'etf'",
        ),
    ],
    ids=[
        "hxe-alpha",
        "foreign-param",
        "head",
        "posthoc",
        "override-key",
        "integer",
        "finite",
        "kind-option",
        "folder",
        "hierarchy",
        "zero-steps",
        "seed-float",
        "override-seed-float",
        "margin-levels-planted",
        "branching-float",
        "feature-dim-float",
        "nan",
        "kind-range",
        "kind-option-store",
        "counts",
        "epochs",
        "lr-scale",
        "backbone",
        "feature-dim-frame",
        "feature-dim-hiercos",
        "margin-levels-height-key",
        "feature-dim-classes-key",
    ],
)
def test_bad_configs_are_refused_naming_the_field(mutate, message):
    assert message in refused(mutate)


def test_the_tree_unknown_before_its_download_is_checked_when_the_model_is_built():
    """A downloaded tree without ``classes``/``height`` in the config: the study cannot check
    it; the training job refuses before any epoch, when it builds the model from the hierarchy
    stage's tree (K = 9, height 2)."""
    from haframe.assets import RunAssets
    from haframe.data.kinds.synthetic import planted_hierarchy
    from haframe.inference import build_model

    config = tiny_config()
    config["variants"]["hafeature_II"] = {"method": "hafeature", "head": "II", "margin_levels": [2]}
    config["datasets"] = {"mine": url_dataset(training={"feature_dim": 4})}
    study = Study(config)  # nothing known of the tree yet
    tree = planted_hierarchy((3, 3))
    assets = RunAssets(hierarchy=tree, distances=tree.distance_matrix(), levels=tree.level_labels(), frames={})
    expected = {
        "hafeature_II": "mine/hafeature_II/seed1: margin_levels: [2] must lie in 1..1, the levels between the "
        "leaves (0) and the root (2) (dataset 'mine': K = 9 classes and height 2, from the hierarchy stage); the "
        "config sets margin_levels in variants.hafeature_II or datasets.mine.overrides.hafeature_II",
        "haframe": "mine/haframe/seed1: training.feature_dim: d = 4 is smaller than the K = 9 classes; method "
        "'haframe' uses a frame of K vectors with prescribed cosines, which needs d >= K: set it to 9 or more, or "
        "null (d = K) (dataset 'mine': K = 9 classes and height 2, from the hierarchy stage); the config sets "
        "feature_dim in training, datasets.mine.training, variants.haframe.training or "
        "datasets.mine.overrides.haframe.training",
    }
    for variant, message in expected.items():
        with pytest.raises(ConfigError) as error:
            build_model(study.run("mine", variant, 1), assets)
        assert str(error.value) == message


def test_local_files_named_by_the_config_are_checked_before_any_job(tmp_path, monkeypatch):
    """Relative paths start at the working directory (the download jobs read them from there)."""
    monkeypatch.chdir(tmp_path)
    config = tiny_config()
    config["variants"]["hafeature_II"] = {"method": "hafeature", "head": "II"}
    config["datasets"]["mine"] = url_dataset(
        hierarchy={"source": "trees/mine.tsv", "format": "tsv"},
        variants=["hafeature_II"],
        overrides={"hafeature_II": {"margin_levels": [2]}},
    )

    def problem() -> str:
        study = Study(config)  # the config alone is fine: what it names is not read yet
        with pytest.raises(ConfigError) as error:
            study.check_local_files()
        return str(error.value)

    assert problem() == (
        f"datasets.mine.hierarchy.source: 'trees/mine.tsv' is not an existing file ({tmp_path}/trees/mine.tsv); "
        "expected an http(s) URL, a file:// URL or the path of an existing file (a relative path starts "
        "at the working directory)"
    )
    (tmp_path / "trees").mkdir()
    (tmp_path / "trees" / "mine.tsv").write_text("".join(f"root\tg{k // 3}\tc{k}\n" for k in range(9)))  # height 2
    assert problem() == (
        "datasets.mine.overrides.hafeature_II.margin_levels: [2] must lie in 1..1, the levels between the "
        "leaves (0) and the root (2) (dataset 'mine': K = 9 classes and height 2, from its hierarchy file "
        "trees/mine.tsv)"
    )
    config["datasets"]["mine"]["overrides"]["hafeature_II"]["margin_levels"] = [1]
    Study(config).check_local_files()  # an existing file whose tree takes every run's values
    config["datasets"]["mine"]["sources"] = {"archive": (tmp_path / "cifar.tar.gz").as_uri()}
    assert problem().startswith(
        f"datasets.mine.sources.archive: '{(tmp_path / 'cifar.tar.gz').as_uri()}' is not an existing file"
    )
    del config["datasets"]["mine"]["sources"]
    config["datasets"]["mine"].update(classes=10, height=2)  # issue 25: contradicting the file, at the dry run
    assert problem() == "datasets.mine.classes: 10, but its hierarchy file trees/mine.tsv has classes 9"
    config["datasets"]["mine"].update(classes=9, height=3)
    assert problem() == "datasets.mine.height: 3, but its hierarchy file trees/mine.tsv has height 2"
    del config["datasets"]["mine"]["classes"], config["datasets"]["mine"]["height"]
    (tmp_path / "trees" / "mine.tsv").write_text("root\tg0\tc0\n")  # a single class
    assert problem() == (
        "datasets.mine.hierarchy.source: trees/mine.tsv has 1 class; a hierarchy needs at least 2 leaves"
    )
    (tmp_path / "trees" / "mine.tsv").write_bytes(b"\x80\x04\x95 a pickle, not a tsv")
    assert problem() == (
        "datasets.mine.hierarchy.source: trees/mine.tsv: not a text file (byte 0x80 at offset 0 is not "
        "UTF-8); expected a tsv hierarchy (one root-to-class path per line, tab-separated)"
    )


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda c: c.update(seeds=[0.0]), "seeds.0: expected an integer, got 0.0"),  # JSON Schema alone admits 0.0
        (
            lambda c: c["datasets"]["synthetic"].update(overrides={"haframe": {"training": {"epoch": 3}}}),
            "datasets.synthetic.overrides.haframe.training: Additional properties are not allowed ('epoch' was "
            "unexpected)",
        ),
        (
            lambda c: c["datasets"]["synthetic"].update(overrides={"haframe": {"head": "III"}}),
            "datasets.synthetic.overrides.haframe.head: 'III' is not one of ['I', 'II']",
        ),
    ],
    ids=["seed-float", "override-training-key", "override-head"],  # the values the options check: above
)
def test_the_schema_names_the_field_the_code_would_misread(mutate, message):
    config = tiny_config()
    assert schema_errors(config, SCHEMA) == []
    mutate(config)
    assert schema_errors(config, SCHEMA) == [message]


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


NAME_RULE = (
    "is not allowed: a study's, dataset's or variant's name is one folder name: letters, digits, '_', '.' and '-', "
    "starting with a letter or digit (no '/', no '..', no leading dot; no '+', which joins a variant to its "
    "post-hoc chains)"
)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (
            lambda c: c["datasets"].update({"d/../../ESCAPE": c["datasets"].pop("synthetic")}),
            f"datasets: 'd/../../ESCAPE' {NAME_RULE}",
        ),
        (lambda c: c["variants"].update({"ce+x": c["variants"].pop("ce_II")}), f"variants: 'ce+x' {NAME_RULE}"),
        (lambda c: c["variants"].update({".hidden": c["variants"].pop("ce_II")}), f"variants: '.hidden' {NAME_RULE}"),
        (
            lambda c: c["training"].update(epochs=10**12),
            "training.epochs: expected an integer in [1, 100000], got 1000000000000",
        ),
        (lambda c: c.update(seeds=[1_000_000]), "seeds.0: 1000000 is greater than the maximum of 999999"),
        (lambda c: c.update(mlflow={"tracking_uri": ""}), "mlflow.tracking_uri: '' is not allowed: null: sqlite:///"),
        (
            lambda c: c.update(mlflow={"tracking_uri": "ftp://host/x"}),
            "mlflow.tracking_uri: 'ftp://host/x' is not allowed",
        ),
    ],
    ids=["dataset-escape", "variant-plus", "variant-dot", "epochs", "seed", "uri-empty", "uri-scheme"],
)
def test_names_bounds_and_tracking_uris_are_refused_before_any_job(mutate, message):
    """Issue 25, items 1, 6 and 12: each refused, naming the field, before the study is built."""
    config = tiny_config()
    mutate(config)
    with pytest.raises(ConfigError) as error:
        Study(load_config(config, None))
    assert message in str(error.value)


@pytest.mark.parametrize(
    "uri", ["sqlite:///results/mlflow.db", "http://localhost:5000", "results/mlruns", "file:///tmp/x"]
)
def test_mlflow_stores_are_accepted(uri):
    config = tiny_config(mlflow={"tracking_uri": uri})
    Study(load_config(config, None))


def test_the_dry_run_arithmetic_is_bounded_at_the_largest_epochs():
    """Issue 25, item 1: the cost counts the neural-collapse passes without building a set."""
    from haframe.cost import images_of

    config = tiny_config()
    config["datasets"]["synthetic"]["training"].update(epochs=100_000, nc_every=3)
    run = Study(load_config(config, None)).run("synthetic", "haframe", 0)
    images = images_of(run, {"train": 10, "val": 1, "test": 1})
    assert images.forward == 100_001 * 1 + (33_333 + 1) * 10 + 1


def test_a_data_root_that_is_a_file_is_refused_before_any_job(tmp_path, monkeypatch):
    """Issue 25, item 12."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").write_text("not a folder")
    with pytest.raises(ConfigError, match=r"^data_root: 'data' is a file; expected a folder"):
        Study(tiny_config()).check_local_files()


def test_a_cropping_recipe_on_small_images_is_advised_against_and_fgvc_is_not():
    """Issue 26: the BYO template's `imagenet` recipe (RandomResizedCrop, 8-100 % of the area) on
    32-px images left a tiny CNN at 62 % training error."""
    config = yaml.safe_load((REPO / "config" / "byo_example.yaml").read_text())
    assert config["datasets"]["my_data"]["transform"] == "fgvc" and Study(load_config(config, None)).advice() == []
    config["datasets"]["my_data"]["transform"] = "imagenet"
    (note,) = Study(load_config(config, None)).advice()
    assert note.startswith("datasets.my_data.transform: imagenet trains on a random 8-100 % of each image's area")
    assert "at input_size 32" in note and "transform: fgvc" in note
