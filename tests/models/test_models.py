"""haframe.models: WRN-28-8 and ResNet-50 backbones, type-I / type-II heads, weight files.

Reference: README, "The method" 3; the WRN follows the PyTorch FixMatch port the authors use
(util/arch/wideresnet.py), the type-I head their custom_resnet.ResNet50.
"""

import hashlib
import os
import pickle

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.hub import HASH_REGEX
from torchvision.models import ResNet50_Weights, resnet50

from haframe.fileio import check_sha256_prefix
from haframe.models.backbones import (
    ResNet50,
    SmallCNN,
    WideBasicBlock,
    WideResNet28_8,
    build_backbone,
    wrn_conv_init_,
)
from haframe.models.heads import TypeIHead, TypeIIHead
from haframe.models.weights import WEIGHTS, load_weights

# WRN-28-8 (16/128/256/512): 23.4M parameters with its 512x100 classifier (FixMatch's CIFAR-100
# model). The authors' module has 23,349,712 without the classifier, 768 of them in the two
# first-BNs of groups 2/3 that its forward never uses; ours omits those two BNs.
WRN_BODY_PARAMS = 23_348_944
WRN_DEAD_BN_PARAMS = 2 * (128 + 256)  # weight + bias of BN(128) and BN(256)
WRN_CLASSIFIER_PARAMS = 512 * 100 + 100
RESNET50_BODY_PARAMS = 25_557_032 - (2048 * 1000 + 1000)  # torchvision resnet50 minus fc


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ----------------------------------------------------------------------------- WRN-28-8


def test_wrn28_8_forward_backward_gives_512x8x8_map():
    torch.manual_seed(0)
    model = build_backbone("wrn28_8")
    assert isinstance(model, WideResNet28_8) and model.out_channels == 512
    x = torch.randn(2, 3, 32, 32)
    out = model(x)
    assert out.shape == (2, 512, 8, 8)
    # ends with BN + LeakyReLU(0.1): negative outputs are 0.1 x a negative pre-activation
    bn_out = F.batch_norm(
        model.block3(model.block2(model.block1(model.conv1(x)))).detach(),
        None,
        None,
        model.bn.weight.detach(),
        model.bn.bias.detach(),
        training=True,
        eps=model.bn.eps,
    )
    torch.testing.assert_close(out.detach(), F.leaky_relu(bn_out, 0.1), rtol=1e-4, atol=1e-5)
    out.square().mean().backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert no_grad == []  # no dead parameters
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_wrn28_8_parameter_count_and_layout():
    model = WideResNet28_8()
    count = n_params(model)
    assert count == WRN_BODY_PARAMS
    assert abs(count + WRN_CLASSIFIER_PARAMS - 23.4e6) / 23.4e6 < 0.01
    # the TF-FixMatch variant keeps (and uses) those two BNs: the authors' module size
    assert n_params(WideResNet28_8(preactivate_shortcut_blocks=True)) == WRN_BODY_PARAMS + WRN_DEAD_BN_PARAMS
    groups = [model.block1, model.block2, model.block3]
    assert [len(g) for g in groups] == [4, 4, 4]
    assert [g[0].conv1.out_channels for g in groups] == [128, 256, 512]
    assert [g[0].conv1.stride for g in groups] == [(1, 1), (2, 2), (2, 2)]
    assert model.conv1.out_channels == 16
    assert [g[0].activate_before_residual for g in groups] == [True, False, False]
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 2 * 12 - 2 + 1 and all(m.momentum == 0.001 for m in bns)
    acts = [m for m in model.modules() if isinstance(m, nn.LeakyReLU)]
    assert acts and all(m.negative_slope == 0.1 for m in acts)
    assert not any(isinstance(m, (nn.ReLU, nn.Linear, nn.AdaptiveAvgPool2d)) for m in model.modules())


def test_wrn_init_he_fan_out_and_unit_batchnorm():
    torch.manual_seed(0)
    model = WideResNet28_8()
    conv = model.block3[1].conv1  # 512 x 512 x 3 x 3
    expected = (2.0 / (3 * 3 * 512)) ** 0.5
    assert abs(conv.weight.std().item() / expected - 1) < 0.01
    assert abs(conv.weight.mean().item()) < 0.01 * expected
    short = model.block2[0].shortcut  # 1x1, 256 out
    assert abs(short.weight.std().item() / (2.0 / 256) ** 0.5 - 1) < 0.02
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert torch.equal(m.weight, torch.ones_like(m.weight))
            assert torch.equal(m.bias, torch.zeros_like(m.bias))
        if isinstance(m, nn.Conv2d):
            assert m.bias is None
    proj = wrn_conv_init_(nn.Conv2d(512, 100, 1, bias=False))
    assert abs(proj.weight.std().item() / (2.0 / 100) ** 0.5 - 1) < 0.05


def _randomise_bn(module: nn.Module) -> None:
    g = torch.Generator().manual_seed(1)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g))
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g))


def _bn_lrelu(bn: nn.BatchNorm2d, x: torch.Tensor) -> torch.Tensor:
    y = F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, training=False, eps=bn.eps)
    return F.leaky_relu(y, 0.1)


@pytest.mark.parametrize(
    "cin, cout, stride, abr, preact_flag",
    [
        (8, 8, 1, False, False),  # equal in/out: x + f(pre)
        (4, 8, 1, True, False),  # first block of group 1: shortcut(pre) + f(pre)
        (8, 16, 2, False, False),  # first block of groups 2/3, authors' port: shortcut(x) + f(x)
        (8, 16, 2, False, True),  # same, TF FixMatch: shortcut(x) + f(pre)
    ],
)
def test_wrn_block_matches_reference_equations(cin, cout, stride, abr, preact_flag):
    torch.manual_seed(0)
    block = WideBasicBlock(cin, cout, stride, activate_before_residual=abr, preactivate_shortcut_blocks=preact_flag)
    _randomise_bn(block)
    block.eval()
    x = torch.randn(2, cin, 8, 8)
    with torch.no_grad():
        got = block(x.clone())
        pre = _bn_lrelu(block.bn1, x) if block.bn1 is not None else None
        conv_in = x if (cin != cout and not abr and not preact_flag) else pre
        f = block.conv2(_bn_lrelu(block.bn2, block.conv1(conv_in)))
        if cin == cout:
            residual = x
        else:
            residual = block.shortcut(pre if abr else x)
    assert (block.bn1 is None) == (cin != cout and not abr and not preact_flag)
    assert got.shape == (2, cout, 8 // stride, 8 // stride)
    torch.testing.assert_close(got, residual + f)


# ----------------------------------------------------------------------------- ResNet-50 and heads


def test_resnet50_body_matches_torchvision_without_fc():
    body = build_backbone("resnet50")
    assert isinstance(body, ResNet50) and body.out_channels == 2048
    reference = {k for k in resnet50(weights=None).state_dict() if not k.startswith("fc.")}
    assert set(body.state_dict()) == reference
    assert n_params(body) == RESNET50_BODY_PARAMS
    assert not any(isinstance(m, (nn.Linear, nn.AdaptiveAvgPool2d)) for m in body.modules())


def test_type_I_resnet50_gives_600d_features_and_backward():
    torch.manual_seed(0)
    body, head = ResNet50(), TypeIHead(2048, 600)
    body.train(), head.train()
    fmap = body(torch.randn(2, 3, 224, 224))
    assert fmap.shape == (2, 2048, 7, 7)
    features = head(fmap)
    assert features.shape == (2, 600) and head.out_features == 600
    assert (features > -1).all()  # ELU
    features.square().mean().backward()
    assert head.transform[1].weight.grad is not None and head.transform[1].weight.grad.abs().sum() > 0
    assert body.conv1.weight.grad is not None and body.conv1.weight.grad.abs().sum() > 0


def test_type_II_head_on_resnet50_gives_K_features():
    torch.manual_seed(0)
    body, head = ResNet50(), TypeIIHead(2048, 10)
    with torch.no_grad():
        features = head(body(torch.randn(2, 3, 224, 224)))
    assert features.shape == (2, 10)
    assert torch.isfinite(features).all()


def test_type_I_head_layers_and_global_max_pool():
    torch.manual_seed(0)
    head = TypeIHead(2048, 600)
    kinds = [type(m) for m in head.transform]
    assert kinds == [nn.BatchNorm1d, nn.Linear, nn.BatchNorm1d, nn.ELU]
    assert head.transform[0].num_features == 2048 and head.transform[2].num_features == 600
    assert (head.transform[1].in_features, head.transform[1].out_features) == (2048, 600)
    assert head.transform[1].bias is not None
    assert isinstance(head.pool, nn.MaxPool2d) and head.pool.kernel_size == 7
    for m in (head.transform[0], head.transform[2]):  # non-trivial eval statistics
        m.running_mean.normal_()
        m.running_var.uniform_(0.5, 2.0)
    head.eval()
    fmap = torch.randn(3, 2048, 7, 7)
    with torch.no_grad():
        expected = head.transform(fmap.amax(dim=(2, 3)))
        torch.testing.assert_close(head(fmap), expected)
    with pytest.raises(ValueError, match="7x7"):
        head(torch.randn(2, 2048, 8, 8))
    small = TypeIHead(2048, 600, pool_size=8).eval()
    assert small(torch.randn(2, 2048, 8, 8)).shape == (2, 600)


def test_type_I_head_for_wrn_is_global_average_pool():
    head = TypeIHead(512, None)
    assert head.out_features == 512 and n_params(head) == 0
    fmap = torch.randn(2, 512, 8, 8)
    torch.testing.assert_close(head(fmap), fmap.mean(dim=(2, 3)))
    assert head(fmap).shape == (2, 512)


@pytest.mark.parametrize(
    "make_head, backbone_part, head_part",
    [
        (lambda: TypeIHead(2048, 600), 0, 2048 * 2 + 2048 * 600 + 600 + 600 * 2),
        (lambda: TypeIHead(512, None), 0, 0),
        (lambda: TypeIIHead(2048, 10), 2048 * 10, 10 * 2 + 2 * (2 * 100 + 2 * 20 + 2 * 10)),
    ],
)
def test_heads_split_into_projection_and_transform(make_head, backbone_part, head_part):
    head = make_head()
    projection = {id(p) for p in head.projection.parameters()}
    transform = {id(p) for p in head.transform.parameters()}
    assert not projection & transform
    assert projection | transform == {id(p) for p in head.parameters()}
    assert n_params(head.projection) == backbone_part
    assert n_params(head.transform) == head_part


def test_build_backbone_names():
    small = build_backbone("small_cnn")
    assert isinstance(small, SmallCNN) and small(torch.randn(2, 3, 32, 32)).shape == (2, 128, 8, 8)
    with pytest.raises(ValueError, match="unknown backbone"):
        build_backbone("wrn28_10")


# ----------------------------------------------------------------------------- weight files


@pytest.fixture(scope="module")
def reference_state():
    """A torchvision resnet50 state dict (with fc) with non-default BN statistics."""
    torch.manual_seed(123)
    model = resnet50(weights=None)
    _randomise_bn(model)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.num_batches_tracked.fill_(7)
    return {k: v.clone() for k, v in model.state_dict().items()}


def _assert_loaded(body: nn.Module, state: dict) -> None:
    loaded = body.state_dict()
    assert set(loaded) == {k for k in state if not k.startswith("fc.")}
    for key, value in loaded.items():
        assert torch.equal(value, state[key]), key


def test_load_torchvision_file_round_trip(tmp_path, reference_state):
    path = tmp_path / "resnet50-test.pth"
    torch.save(reference_state, path)
    body = ResNet50()
    assert not torch.equal(body.conv1.weight, reference_state["conv1.weight"])
    assert load_weights(body, path, "torchvision") is body
    _assert_loaded(body, reference_state)
    # an old file without BN counters loads; the counters restart at 0
    old = {k: v for k, v in reference_state.items() if not k.endswith("num_batches_tracked")}
    torch.save(old, path)
    body = load_weights(ResNet50(), path, "imagenet1k_v1")  # a WEIGHTS key names its format
    assert torch.equal(body.layer1[0].conv1.weight, reference_state["layer1.0.conv1.weight"])
    assert int(body.bn1.num_batches_tracked) == 0


def test_load_pass_moco_checkpoint_round_trip(tmp_path, reference_state):
    state = {"module.encoder_q." + k: v for k, v in reference_state.items() if not k.startswith("fc.")}
    # MoCo-v2's MLP head, the key encoder and the queue are not part of the body
    state["module.encoder_q.fc.0.weight"] = torch.randn(16, 2048)
    state["module.encoder_q.fc.0.bias"] = torch.randn(16)
    state["module.encoder_q.fc.2.weight"] = torch.randn(8, 16)
    state["module.encoder_q.fc.2.bias"] = torch.randn(8)
    state["module.encoder_k.conv1.weight"] = torch.randn_like(reference_state["conv1.weight"])
    state["module.encoder_k.bn1.running_mean"] = torch.randn(64)
    state["module.queue"] = torch.randn(128, 32)
    state["module.queue_ptr"] = torch.zeros(1, dtype=torch.long)
    path = tmp_path / "moco_v2_800ep.pth.tar"
    torch.save({"epoch": 800, "arch": "resnet50", "state_dict": state, "optimizer": {"lr": 0.03}}, path)
    body = load_weights(ResNet50(), path, "pass_moco")
    _assert_loaded(body, reference_state)
    assert not torch.equal(body.conv1.weight, state["module.encoder_k.conv1.weight"])

    # a query-encoder key that only the key encoder has is still missing
    del state["module.encoder_q.layer2.1.conv2.weight"]
    state["module.encoder_k.layer2.1.conv2.weight"] = reference_state["layer2.1.conv2.weight"]
    torch.save({"state_dict": state}, path)
    with pytest.raises(ValueError) as err:
        load_weights(ResNet50(), path, "pass_moco")
    assert str(path) in str(err.value) and "layer2.1.conv2.weight" in str(err.value)


def test_missing_unexpected_and_misshaped_keys_name_file_and_key(tmp_path, reference_state):
    body = ResNet50()
    before = body.conv1.weight.clone()
    path = tmp_path / "broken.pth"
    cases = {
        "layer4.2.bn3.running_var": {k: v for k, v in reference_state.items() if k != "layer4.2.bn3.running_var"},
        "layer5.0.conv1.weight": {**reference_state, "layer5.0.conv1.weight": torch.zeros(1)},
        "layer1.0.conv2.weight": {**reference_state, "layer1.0.conv2.weight": torch.zeros(64, 64, 1, 1)},
    }
    for key, state in cases.items():
        torch.save(state, path)
        with pytest.raises(ValueError) as err:
            load_weights(body, path, "torchvision")
        assert str(path) in str(err.value) and key in str(err.value)
    assert torch.equal(body.conv1.weight, before)  # nothing partially loaded
    with pytest.raises(ValueError, match="unknown weights source"):
        load_weights(body, path, "timm")
    torch.save(reference_state, path)  # a torchvision file is not a MoCo checkpoint
    with pytest.raises(ValueError, match="state_dict"):
        load_weights(body, path, "pass_moco")


class _Payload:
    """Unpickling this calls os.mkdir(marker)."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_code_running_pickle_is_refused(tmp_path, writer):
    marker = tmp_path / "payload_ran"
    path = tmp_path / "evil.pth"
    obj = {"conv1.weight": torch.zeros(1), "fc.weight": _Payload(str(marker))}
    if writer == "torch.save":
        torch.save(obj, path)
    else:
        with open(path, "wb") as fh:
            pickle.dump(obj, fh, protocol=2)
    with pytest.raises(ValueError, match="refusing to load"):
        load_weights(ResNet50(), path, "torchvision")
    assert not marker.exists()
    # the payload is live: an unrestricted load would have run it
    if writer == "torch.save":
        torch.load(path, map_location="cpu", weights_only=False)
    else:
        with open(path, "rb") as fh:
            pickle.load(fh)
    assert marker.is_dir()


def test_check_sha256_prefix(tmp_path):
    path = tmp_path / "blob.bin"
    path.write_bytes(b"hierarchy-aware frame\n" * 1000)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert check_sha256_prefix(path, digest[:8]) == digest
    assert check_sha256_prefix(path, digest[:8].upper()) == digest
    assert check_sha256_prefix(path, digest) == digest
    wrong = format((int(digest[:8], 16) + 1) % 16**8, "08x")
    with pytest.raises(ValueError) as err:
        check_sha256_prefix(path, wrong)
    assert str(path) in str(err.value) and wrong in str(err.value)
    with pytest.raises(ValueError, match="hexadecimal"):
        check_sha256_prefix(path, "not-hex")


def test_weights_table_matches_torchvision_and_paper():
    imagenet = WEIGHTS["imagenet1k_v1"]
    assert imagenet.url == ResNet50_Weights.IMAGENET1K_V1.url  # V1, not the default V2
    assert imagenet.url != ResNet50_Weights.DEFAULT.url
    assert imagenet.filename == imagenet.url.rsplit("/", 1)[1]
    assert HASH_REGEX.search(imagenet.filename).group(1) == imagenet.sha256_prefix == "0676ba61"
    assert imagenet.format == "torchvision"
    moco = WEIGHTS["pass_moco_v2_800ep"]
    assert moco.url == "https://www.robots.ox.ac.uk/~vgg/research/pass/pretrained_models/moco_v2_800ep.pth.tar"
    assert moco.filename == "moco_v2_800ep.pth.tar" and moco.format == "pass_moco"
    assert moco.sha256_prefix is None
