"""SegNet: timm VGG16-BN weight mapping, unpooling with indices, shapes and errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import segzoo
from segzoo.errors import ConfigurationError
from segzoo_segnet.encoder import SegNetVGGEncoder, build_segnet_encoder, timm_key_map, timm_vgg_to_segnet

timm = pytest.importorskip("timm")


def randomize_bn(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.2)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
    return model.eval()


@pytest.fixture(scope="module")
def timm_vgg16_bn():
    torch.manual_seed(0)
    return randomize_bn(timm.create_model("vgg16_bn", pretrained=False))


def test_key_map_layout():
    mapping = timm_key_map([64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"])
    assert mapping["features.0"] == "stages.0.0.0"
    assert mapping["features.1"] == "stages.0.0.1"
    assert mapping["features.3"] == "stages.0.1.0"
    assert mapping["features.7"] == "stages.1.0.0"
    assert mapping["features.40"] == "stages.4.2.0"
    assert mapping["features.41"] == "stages.4.2.1"
    assert len(mapping) == 26  # 13 conv + 13 BN


def test_timm_vgg16_bn_mapping_gives_identical_features(timm_vgg16_bn):
    encoder = SegNetVGGEncoder("vgg16").eval()
    encoder.load_timm_state_dict(timm_vgg16_bn.state_dict())  # strict; pre_logits/head dropped
    torch.manual_seed(1)
    x = torch.randn(1, 3, 64, 64)
    pools = [i for i, m in enumerate(timm_vgg16_bn.features) if isinstance(m, torch.nn.MaxPool2d)]
    assert len(pools) == 5
    with torch.no_grad():
        ours, indices, sizes = encoder.forward_with_indices(x)
        for stage, end in enumerate(pools):
            pre_pool = timm_vgg16_bn.features[:end](x)  # timm's activation right before the stage's pooling
            reference = timm_vgg16_bn.features[: end + 1](x)
            assert tuple(sizes[stage]) == tuple(pre_pool.shape[-2:])
            assert torch.equal(ours[stage], reference), f"stage {stage}"
            _, ref_idx = F.max_pool2d(pre_pool, 2, 2, return_indices=True)
            assert torch.equal(indices[stage], ref_idx)


def test_timm_mapping_rejects_foreign_keys(timm_vgg16_bn):
    sd = dict(timm_vgg16_bn.state_dict())
    sd["features.2.weight"] = torch.zeros(1)  # a ReLU slot has no parameters
    with pytest.raises(ConfigurationError, match="features.2.weight"):
        timm_vgg_to_segnet(sd, "vgg16")


def test_pretrained_encoder_loads_timm_weights(monkeypatch, timm_vgg16_bn):
    """pretrained=True builds timm's vgg16_bn with pretrained=True and maps it (no download here)."""
    calls = []

    def fake_create_model(name, pretrained=False, **kwargs):
        calls.append((name, pretrained, kwargs))
        return timm_vgg16_bn

    monkeypatch.setattr(timm, "create_model", fake_create_model)
    encoder = build_segnet_encoder("vgg16", in_channels=3, output_stride=32, pretrained=True)
    assert calls == [("vgg16_bn", True, {"in_chans": 3})]
    assert torch.equal(encoder.stages[4][2][0].weight, timm_vgg16_bn.features[40].weight)
    assert torch.equal(encoder.stages[4][2][1].running_var, timm_vgg16_bn.features[41].running_var)


def test_first_unpool_puts_values_at_argmax_positions():
    torch.manual_seed(0)
    model = randomize_bn(segzoo.create("segnet", num_classes=4))
    captured = {}
    model.decoder.stages[0].register_forward_hook(lambda m, inp, out: captured.setdefault("unpooled", inp[0]))
    model.encoder.stages[4].register_forward_hook(lambda m, inp, out: captured.setdefault("pre_pool", out.clone()))
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        model(x)
    pre, unpooled = captured["pre_pool"], captured["unpooled"]
    assert unpooled.shape == pre.shape == (1, 512, 4, 6)
    pooled, idx = F.max_pool2d(pre, 2, 2, return_indices=True)
    # every 2x2 window has its maximum at the argmax position and zeros at the three others
    expected = torch.zeros_like(pre).flatten(2).scatter_(2, idx.flatten(2), pooled.flatten(2)).view_as(pre)
    assert torch.equal(unpooled, expected)
    windows = F.unfold(unpooled, 2, stride=2).view(1, 512, 4, -1)
    positive = pooled.flatten(2) > 0  # ReLU outputs: a window whose max is 0 is all zeros anyway
    assert ((windows != 0).sum(2) <= 1).all()
    assert ((windows != 0).sum(2)[positive] == 1).all()
    flat = pre.flatten(2)
    assert torch.equal(flat.gather(2, idx.flatten(2)), pooled.flatten(2))  # indices point at the window maxima


def test_segnet_layout_and_paper_size():
    model = segzoo.create("segnet", num_classes=11)
    enc_convs = [m for m in model.encoder.modules() if isinstance(m, torch.nn.Conv2d)]
    dec_convs = [m for m in model.decoder.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(enc_convs) == 13
    assert len(dec_convs) + 1 == 13  # + the head's 3x3 classifier (conv1_1_D)
    assert [c.out_channels for c in dec_convs] == [512, 512, 512, 512, 512, 256, 256, 256, 128, 128, 64, 64]
    assert model.head.classifier.kernel_size == (3, 3)
    n_params = sum(p.numel() for p in model.parameters())
    assert 29.0e6 < n_params < 29.6e6  # the paper reports 29.5M parameters for SegNet


@pytest.mark.parametrize(("in_channels", "num_classes", "size"), [(1, 1, (64, 64)), (4, 150, (70, 90))])
def test_segnet_shapes_forward_backward(in_channels, num_classes, size):
    torch.manual_seed(0)
    model = segzoo.create("segnet", num_classes=num_classes, in_channels=in_channels)
    x = torch.randn(2, in_channels, *size)
    y = model(x)
    assert y.shape == (2, num_classes, *size)  # odd sizes too: unpooling restores the pre-pooling sizes
    y.mean().backward()
    assert model.encoder.stages[0][0][0].weight.grad is not None
    out = model.eval().forward_with_aux(x[:1])
    assert set(out) == {"out"} and out["out"].shape == (1, num_classes, *size)


def test_segnet_variants_and_errors():
    vgg11 = segzoo.create("segnet", encoder="vgg11_bn_segnet", num_classes=2)
    assert vgg11.encoder.stage_channels == [[64], [128], [256, 256], [512, 512], [512, 512]]
    with torch.no_grad():
        assert vgg11.eval()(torch.randn(1, 3, 32, 32)).shape == (1, 2, 32, 32)
    with pytest.raises(ConfigurationError, match="pooling indices"):
        segzoo.create("segnet", encoder="resnet18", num_classes=2)
    with pytest.raises(ConfigurationError, match="output_stride"):
        build_segnet_encoder("vgg16", in_channels=3, output_stride=16, pretrained=False)
    with pytest.raises(TypeError):
        segzoo.create("segnet", num_classes=2, dropout=0.5)


def test_meta_build_and_assign_load():
    """segzoo's loader builds on the meta device and loads with assign=True: nothing may be lost."""
    torch.manual_seed(0)
    model = segzoo.create("segnet", encoder="vgg11_bn_segnet", num_classes=3).eval()
    with torch.device("meta"):
        empty = segzoo.create("segnet", encoder="vgg11_bn_segnet", num_classes=3)
    empty.load_state_dict(model.state_dict(), strict=True, assign=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x), empty.eval()(x))
