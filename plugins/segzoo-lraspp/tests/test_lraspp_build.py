"""lraspp with other encoders, channel counts and options."""

from __future__ import annotations

import pytest
import torch

import segzoo
from segzoo.errors import ConfigurationError


@pytest.mark.parametrize(
    ("encoder", "options", "in_channels", "num_classes"),
    [
        ("tv_mobilenet_v3_large", {}, 1, 1),
        ("resnet18", {}, 4, 150),
        ("mobilenetv3_large_100", {"inter_channels": 64}, 3, 21),  # timm's MobileNetV3 (not torchvision-exact)
        ("efficientnet_b0", {"output_stride": 8}, 3, 5),
        ("efficientvit_b0", {"output_stride": 32}, 1, 2),  # no dilation support: fine at output stride 32
    ],
)
def test_builds_and_runs_with_other_encoders(encoder, options, in_channels, num_classes):
    torch.manual_seed(0)
    model = segzoo.create("lraspp", encoder=encoder, num_classes=num_classes, in_channels=in_channels, **options).eval()
    with torch.no_grad():
        out = model(torch.randn(1, in_channels, 65, 97))
    assert out.shape == (1, num_classes, 65, 97)
    assert model.encoder.reductions[model.decoder.low_index] == 8


def test_default_encoder_is_torchvision_s_mobilenet():
    model = segzoo.create("lraspp", num_classes=21)
    assert model.config["encoder"] == "tv_mobilenet_v3_large"
    assert sum(p.numel() for p in model.parameters()) == 3_221_538  # torchvision's num_params


def test_training_step_and_reset_classes():
    model = segzoo.create("lraspp", encoder="resnet18", num_classes=3).train()
    model(torch.randn(2, 3, 64, 64)).mean().backward()
    assert model.head.low_classifier.weight.grad is not None and model.decoder.scale[1].weight.grad is not None
    model.reset_classes(6)
    assert model.head.classifier.out_channels == model.head.low_classifier.out_channels == 6
    assert model.eval()(torch.randn(1, 3, 64, 64)).shape == (1, 6, 64, 64)


def test_clear_errors():
    with pytest.raises(ConfigurationError, match="does not support output_stride=16"):
        segzoo.create("lraspp", encoder="efficientvit_b0", num_classes=2)
    with pytest.raises(ConfigurationError, match="output_stride must be 8, 16 or 32"):
        segzoo.create("lraspp", num_classes=2, output_stride=4)
    with pytest.raises(TypeError, match="aux"):
        segzoo.create("lraspp", num_classes=2, aux_head=True)
