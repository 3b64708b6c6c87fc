"""deeplabv3 / deeplabv3plus with other encoders, channel counts and options; the tv_mobilenet_v3_large encoder."""

from __future__ import annotations

import pytest
import torch

import segzoo
from segzoo.errors import ConfigurationError


@pytest.mark.parametrize(
    ("arch", "encoder", "options", "in_channels", "num_classes"),
    [
        ("deeplabv3", "resnet18", {"output_stride": 16}, 1, 1),
        ("deeplabv3", "efficientnet_b0", {"output_stride": 8, "aux_head": True}, 4, 150),
        ("deeplabv3", "convnext_atto", {"output_stride": 16, "atrous_rates": (2, 4)}, 3, 5),
        ("deeplabv3plus", "resnet18", {}, 4, 150),
        ("deeplabv3plus", "convnext_atto", {"output_stride": 8, "aux_head": True}, 1, 1),
        ("deeplabv3plus", "tv_mobilenet_v3_large", {}, 3, 2),
    ],
)
def test_builds_and_runs_with_other_encoders(arch, encoder, options, in_channels, num_classes):
    torch.manual_seed(0)
    model = segzoo.create(arch, encoder=encoder, num_classes=num_classes, in_channels=in_channels, **options).eval()
    x = torch.randn(1, in_channels, 65, 97)
    with torch.no_grad():
        out = model.forward_with_aux(x)
    assert out["out"].shape == (1, num_classes, 65, 97)
    assert ("aux" in out) == bool(options.get("aux_head"))
    if options.get("aux_head"):
        assert out["aux"].shape == (1, num_classes, 65, 97)


def test_deeplabv3plus_decoder_uses_the_stride4_feature():
    model = segzoo.create("deeplabv3plus", encoder="resnet18", num_classes=3)
    assert model.encoder.reductions[model.decoder.low_index] == 4
    assert model.decoder.reduce[0].out_channels == 48
    assert tuple(model.decoder.aspp.convs[1][0].dilation) == (6, 6)  # output stride 16 -> rates (6, 12, 18)


def test_default_rates_follow_output_stride():
    model = segzoo.create("deeplabv3", encoder="resnet18", num_classes=3)
    assert [m[0].dilation[0] for m in model.decoder.aspp.convs[1:4]] == [12, 24, 36]
    model = segzoo.create("deeplabv3", encoder="resnet18", num_classes=3, output_stride=16)
    assert [m[0].dilation[0] for m in model.decoder.aspp.convs[1:4]] == [6, 12, 18]


def test_training_step_runs():
    model = segzoo.create("deeplabv3plus", encoder="resnet18", num_classes=3, aux_head=True).train()
    out = model.forward_with_aux(torch.randn(2, 3, 64, 64))
    (out["out"].mean() + out["aux"].mean()).backward()
    assert model.encoder.body.conv1.weight.grad is not None


def test_reset_classes_replaces_both_classifiers():
    model = segzoo.create("deeplabv3", encoder="resnet18", num_classes=21, aux_head=True)
    model.reset_classes(4)
    assert model.head.classifier.out_channels == model.aux_head.classifier.out_channels == 4


def test_clear_errors():
    with pytest.raises(ConfigurationError, match="output_stride must be one of 8, 16"):
        segzoo.create("deeplabv3", encoder="resnet18", num_classes=2, output_stride=32)
    with pytest.raises(ConfigurationError, match="does not support output_stride=8"):
        segzoo.create("deeplabv3", encoder="efficientvit_b0", num_classes=2)
    with pytest.raises(ConfigurationError, match="aux_index=7 is out of range"):
        segzoo.create("deeplabv3", encoder="resnet18", num_classes=2, aux_head=True, aux_index=7)
    with pytest.raises(ConfigurationError, match="atrous_rates"):
        segzoo.create("deeplabv3", encoder="resnet18", num_classes=2, atrous_rates=())
    with pytest.raises(TypeError, match="bogus"):
        segzoo.create("deeplabv3plus", encoder="resnet18", num_classes=2, bogus=1)


# -- tv_mobilenet_v3_large ---------------------------------------------------------------------------------------------
def test_timm_resnet_dilates_like_torchvision_replace_stride_with_dilation():
    """timm's output_stride=8 ResNet == torchvision's replace_stride_with_dilation=[False, True, True]: in layer3 the
    first block keeps dilation 1 (stride 1) and the rest use 2; in layer4 the first block uses 2, the rest 4."""
    with torch.device("meta"):
        body = segzoo.create("deeplabv3", encoder="resnet50", num_classes=2).encoder.body
    convs = {
        name: (m.stride[0], m.dilation[0], m.padding[0])
        for name, m in body.named_modules()
        if name.endswith("conv2") or name.endswith("downsample.0")
    }
    assert convs["layer2.0.conv2"] == (2, 1, 1)
    assert convs["layer3.0.conv2"] == (1, 1, 1) and convs["layer3.0.downsample.0"][0] == 1
    assert all(convs[f"layer3.{i}.conv2"] == (1, 2, 2) for i in range(1, 6))
    assert convs["layer4.0.conv2"] == (1, 2, 2) and convs["layer4.0.downsample.0"][0] == 1
    assert all(convs[f"layer4.{i}.conv2"] == (1, 4, 4) for i in range(1, 3))
