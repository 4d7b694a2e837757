"""Optimiser groups of the published study (README, "The method" 5) for every (dataset, variant)
of config/config.yaml, built with the real models."""

import numpy as np
import pytest
import torch
import yaml
from conftest import REPO
from reference_files import reference_file

from haframe.assets import RunAssets, SolvedFrame
from haframe.inference import build_model
from haframe.parsers import read_hierarchy
from haframe.study import Study
from haframe.train import cosine_lr, parameter_groups

CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
ORDER = {"cifar100": "index_suffix"}
# (backbone, head, classifier) x lr(e), per dataset and head type
EXPECTED = {
    "cifar100": {"I": (0.1, 0.1, 1.0), "II": (0.1, 0.1, 1.0)},
    "fgvc_aircraft": {"I": (0.1, 1.0, 1.0), "II": (0.1, 1.0, 1.0)},
    "inat19": {"I": (0.1, 1.0, 1.0), "II": (0.1, 0.1, 1.0)},
    "tiered_imagenet": {"I": (0.1, 1.0, 1.0), "II": (0.1, 0.1, 1.0)},
}
BATCH = {"cifar100": 64, "fgvc_aircraft": 64, "inat19": 256, "tiered_imagenet": 256}
BACKBONE = {
    "cifar100": ("wrn28_8", None),
    "fgvc_aircraft": ("resnet50", "imagenet1k_v1"),
    "inat19": ("resnet50", "imagenet1k_v1"),
    "tiered_imagenet": ("resnet50", "pass_moco_v2_800ep"),
}


def assets_of(dataset):
    """The dataset's real hierarchy; identity frames (only the classifier's shape matters here)."""
    tree = read_hierarchy(reference_file(f"hierarchies/{dataset}/tree.pkl"), "nltk_tree", ORDER.get(dataset, "sorted"))
    K = tree.num_classes
    identity = SolvedFrame(S=np.eye(K), factor=np.eye(K))
    return RunAssets(
        hierarchy=tree,
        distances=tree.distance_matrix(),
        levels=tree.level_labels(),
        frames={"haframe": identity, "etf": identity},
    )


@pytest.mark.parametrize("dataset", list(EXPECTED))
def test_every_trainable_parameter_is_in_one_group_with_the_published_lr(dataset):
    assets = assets_of(dataset)
    K = assets.num_classes
    study = Study(CONFIG)
    variants = study.variants(dataset)
    assert len(variants) == (16 if dataset in ("inat19", "tiered_imagenet") else 15)
    coarse = [study.run(dataset, f"hie_coarse_{head}", 0) for head in ("I", "II")]
    runs = [study.run(dataset, variant, 0) for variant in variants] + coarse
    for run in runs:
        variant = run.variant
        tr = run.training
        assert (tr.backbone, tr.pretrained) == BACKBONE[dataset]
        assert tr.batch_size == BATCH[dataset] and tr.epochs == 100
        assert (tr.momentum, tr.weight_decay) == (0.9, 5e-4)
        published = 0.001 if tr.optimizer == "adam" else 0.1  # BiLT's HXE and soft-label rows: Adam at 1e-3
        assert tr.optimizer == "sgd" or variant in ("hxe_I", "soft_labels_I"), variant
        assert cosine_lr(tr.lr, 0, tr.epochs) == pytest.approx(published)
        assert cosine_lr(tr.lr, 50, tr.epochs) == pytest.approx(published / 2)
        frozen = run.method in ("haframe", "etf", "hiercos")
        with torch.device("meta"):  # shapes and parameter identities without allocating or initialising weights
            model = build_model(run, assets)
        groups = parameter_groups(model, tr.lr_scale, run.head)
        grouped = [id(p) for g in groups for p in g["params"]]
        trainable = [id(p) for p in model.parameters() if p.requires_grad]
        assert sorted(grouped) == sorted(trainable), variant  # each exactly once
        scales = {g["name"]: g["lr_scale"] for g in groups}
        backbone, head, classifier = EXPECTED[dataset][run.head]
        assert scales["backbone"] == backbone, variant
        if run.head == "II" or tr.backbone == "resnet50":
            assert scales["head"] == head, variant
        if frozen:
            assert "classifier" not in scales
            assert not any(p is model.classifier.weight for g in groups for p in g["params"])
        else:
            assert scales["classifier"] == classifier, variant
        if run.head == "II":
            backbone_ids = {id(p) for p in next(g for g in groups if g["name"] == "backbone")["params"]}
            assert id(model.head.projection.weight) in backbone_ids  # the 1x1 conv trains with the backbone
        if variant == "ce_I_wide":
            assert model.head.out_features == K and study.seeds(dataset, variant) == [0]
        if variant == "hie_coarse_II":
            assert (
                model.classifier.linear.out_features
                == {"cifar100": 20, "fgvc_aircraft": 70, "inat19": 72, "tiered_imagenet": 201}[dataset]
            )
        if variant == "hiercos":
            assert (
                model.classifier.weight.shape[0]
                == {"cifar100": 134, "fgvc_aircraft": 200, "inat19": 1189, "tiered_imagenet": 842}[dataset]
            )
