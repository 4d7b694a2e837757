"""One record per pretrained ImageNet-1k classifier that the pipeline evaluates as it is (no
training): torchvision's weights, named by their weights enum, with the preprocessing published
with them, their published top-1 accuracy and the year the architecture was published.

Torch-free: the study checks ``pretrained.models`` against these records and the workflow
builds its download jobs from them without importing torchvision. The values are those of the
pinned torchvision (pyproject.toml); tests/models/test_classifiers.py checks every field
against its weights enums. Evaluation applies the enum's own ``transforms()``, the published
preprocessing itself.
"""

from __future__ import annotations

from dataclasses import dataclass

_MODELS_URL = "https://download.pytorch.org/models/"


@dataclass(frozen=True)
class Classifier:
    """A pretrained classifier: its weights enum, its torchvision builder, its weights file
    (torchvision names it by a sha256 prefix, checked after download), its preprocessing
    (resize the shorter side, then centre-crop, with this interpolation; ImageNet's mean and
    std), its published ImageNet-1k top-1 accuracy (%), its parameter count and its
    architecture's year."""

    weights: str  # torchvision's weights enum, e.g. "ResNet50_Weights.IMAGENET1K_V2"
    builder: str  # torchvision.models.<builder>
    filename: str
    resize: int
    crop: int
    interpolation: str
    published_top1: float
    parameters: int  # its weights file holds them as float32
    year: int  # the architecture's paper (the weights' training recipe may be later: see the enum)
    paper: str

    @property
    def url(self) -> str:
        return _MODELS_URL + self.filename

    @property
    def sha256_prefix(self) -> str:
        return self.filename.rsplit("-", 1)[1].split(".", 1)[0]

    @property
    def preprocessing(self) -> str:
        return f"resize {self.resize} ({self.interpolation}), centre crop {self.crop}, ImageNet mean and std"

    @property
    def label(self) -> str:
        """A short name for figures: builder and weights version (resnet50 V2)."""
        return f"{self.builder} {self.weights.rsplit('_', 1)[1]}"


CLASSIFIERS: dict[str, Classifier] = {
    record.weights: record
    for record in (
        Classifier(
            "ResNet18_Weights.IMAGENET1K_V1",
            "resnet18",
            "resnet18-f37072fd.pth",
            256,
            224,
            "bilinear",
            69.758,
            11_689_512,
            2016,
            "He et al., CVPR 2016",
        ),
        Classifier(
            "ResNet50_Weights.IMAGENET1K_V1",
            "resnet50",
            "resnet50-0676ba61.pth",
            256,
            224,
            "bilinear",
            76.13,
            25_557_032,
            2016,
            "He et al., CVPR 2016",
        ),
        Classifier(
            "ResNet50_Weights.IMAGENET1K_V2",
            "resnet50",
            "resnet50-11ad3fa6.pth",
            232,
            224,
            "bilinear",
            80.858,
            25_557_032,
            2016,
            "He et al., CVPR 2016",
        ),
        Classifier(
            "ResNet101_Weights.IMAGENET1K_V2",
            "resnet101",
            "resnet101-cd907fc2.pth",
            232,
            224,
            "bilinear",
            81.886,
            44_549_160,
            2016,
            "He et al., CVPR 2016",
        ),
        Classifier(
            "ResNet152_Weights.IMAGENET1K_V2",
            "resnet152",
            "resnet152-f82ba261.pth",
            232,
            224,
            "bilinear",
            82.284,
            60_192_808,
            2016,
            "He et al., CVPR 2016",
        ),
        Classifier(
            "VGG16_Weights.IMAGENET1K_V1",
            "vgg16",
            "vgg16-397923af.pth",
            256,
            224,
            "bilinear",
            71.592,
            138_357_544,
            2015,
            "Simonyan & Zisserman, ICLR 2015",
        ),
        Classifier(
            "DenseNet121_Weights.IMAGENET1K_V1",
            "densenet121",
            "densenet121-a639ec97.pth",
            256,
            224,
            "bilinear",
            74.434,
            7_978_856,
            2017,
            "Huang et al., CVPR 2017",
        ),
        Classifier(
            "EfficientNet_B0_Weights.IMAGENET1K_V1",
            "efficientnet_b0",
            "efficientnet_b0_rwightman-7f5810bc.pth",
            256,
            224,
            "bicubic",
            77.692,
            5_288_548,
            2019,
            "Tan & Le, ICML 2019",
        ),
        Classifier(
            "ConvNeXt_Tiny_Weights.IMAGENET1K_V1",
            "convnext_tiny",
            "convnext_tiny-983f1562.pth",
            236,
            224,
            "bilinear",
            82.52,
            28_589_128,
            2022,
            "Liu et al., CVPR 2022",
        ),
        Classifier(
            "ViT_B_16_Weights.IMAGENET1K_V1",
            "vit_b_16",
            "vit_b_16-c867db91.pth",
            256,
            224,
            "bilinear",
            81.072,
            86_567_656,
            2021,
            "Dosovitskiy et al., ICLR 2021",
        ),
        Classifier(
            "Swin_T_Weights.IMAGENET1K_V1",
            "swin_t",
            "swin_t-704ceda3.pth",
            232,
            224,
            "bicubic",
            81.474,
            28_288_354,
            2021,
            "Liu et al., ICCV 2021",
        ),
    )
}


def classifier(weights: str) -> Classifier:
    if weights not in CLASSIFIERS:
        raise ValueError(f"unknown pretrained classifier {weights!r}; known: {sorted(CLASSIFIERS)}")
    return CLASSIFIERS[weights]
