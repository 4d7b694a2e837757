"""The pretrained classifiers' records (haframe.models.classifiers) against the pinned
torchvision's weights enums: the file the workflow downloads and checks, the preprocessing the
report names, the published accuracy it compares with."""

import pytest
from torchvision.models import get_model_weights, get_weight

from haframe.models.classifiers import CLASSIFIERS, classifier


@pytest.mark.parametrize("name", sorted(CLASSIFIERS))
def test_record_is_the_weights_enum(name):
    record, weights = CLASSIFIERS[name], get_weight(name)
    transforms = weights.transforms()
    assert record.url == weights.url
    assert get_model_weights(record.builder) is type(weights)
    assert (record.resize, record.crop) == (transforms.resize_size[0], transforms.crop_size[0])
    assert record.interpolation == transforms.interpolation.value
    assert record.published_top1 == weights.meta["_metrics"]["ImageNet-1K"]["acc@1"]
    assert record.parameters == weights.meta["num_params"]
    assert len(record.sha256_prefix) == 8 and record.sha256_prefix in weights.url


def test_the_issue_s_models_are_all_there():
    builders = {record.builder for record in CLASSIFIERS.values()}
    assert {"resnet18", "resnet50", "resnet101", "resnet152", "vgg16", "densenet121", "efficientnet_b0"} <= builders
    assert {"convnext_tiny", "vit_b_16", "swin_t"} <= builders


def test_an_unknown_classifier_is_named_with_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown pretrained classifier 'ResNet50'; known: \['ConvNeXt"):
        classifier("ResNet50")
