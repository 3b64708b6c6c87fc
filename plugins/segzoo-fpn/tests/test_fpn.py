"""Shapes, options and errors of ``fpn``."""

from __future__ import annotations

import pytest
import torch

import segzoo
from segzoo.errors import ConfigurationError


@pytest.mark.parametrize("encoder", ["resnet18", "efficientnet_b0", "convnext_atto"])
def test_fpn_timm_encoders_forward_backward(encoder):
    torch.manual_seed(0)
    model = segzoo.create("fpn", encoder=encoder, num_classes=3)
    assert model.decoder.output_reduction == 4
    assert [len(b.block) for b in model.decoder.seg_blocks] == [3, 2, 1, 1]
    y = model.train()(torch.randn(2, 3, 64, 96))
    assert y.shape == (2, 3, 64, 96)
    y.mean().backward()
    assert next(model.encoder.parameters()).grad is not None


@pytest.mark.parametrize(("in_channels", "num_classes"), [(1, 1), (4, 150)])
def test_fpn_channels_and_classes(in_channels, num_classes):
    model = segzoo.create("fpn", encoder="resnet18", num_classes=num_classes, in_channels=in_channels).eval()
    with torch.no_grad():
        assert model(torch.randn(1, in_channels, 64, 64)).shape == (1, num_classes, 64, 64)


def test_fpn_options_and_errors():
    model = segzoo.create(
        "fpn",
        encoder="resnet18",
        num_classes=2,
        pyramid_channels=64,
        segmentation_channels=64,
        merge_policy="cat",
        dropout=0.0,
        interpolation="bilinear",
        align_corners=False,
    ).eval()
    assert model.head.classifier.in_channels == 256 and model.align_corners is False
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 64)).shape == (1, 2, 32, 64)
        assert model(torch.randn(1, 3, 48, 64)).shape == (1, 2, 48, 64)  # padded to 64x64 and cropped back
    with pytest.raises(ValueError, match="divisible by 32"):
        model.forward_with_aux(torch.randn(1, 3, 48, 64))
    with pytest.raises(ConfigurationError, match="merge_policy"):
        segzoo.create("fpn", encoder="resnet18", merge_policy="max")
    with pytest.raises(ConfigurationError, match="multiple of 32"):
        segzoo.create("fpn", encoder="resnet18", segmentation_channels=48)
    with pytest.raises(ConfigurationError, match="at least 4"):
        segzoo.create("fpn", encoder="resnet18", encoder_depth=3)
    with pytest.raises(TypeError):
        segzoo.create("fpn", encoder="resnet18", decoder_channels=(1, 2))
