"""``tv_mobilenet_v3_large``: torchvision's MobileNetV3-Large as an encoder, with the strides, keys and numerics that
torchvision's segmentation checkpoints need."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import segzoo  # noqa: F401
from segzoo.nn import create_encoder


@pytest.mark.parametrize(
    ("output_stride", "reductions"), [(32, [2, 4, 8, 16, 32]), (16, [2, 4, 8, 16, 16]), (8, [2, 4, 8, 8, 8])]
)
def test_tv_mobilenet_strides(output_stride, reductions):
    encoder = create_encoder("tv_mobilenet_v3_large", in_channels=1, output_stride=output_stride).eval()
    assert encoder.reductions == reductions and encoder.out_channels == [16, 24, 40, 80, 960]
    with torch.no_grad():
        features = encoder(torch.randn(1, 1, 64, 64))
    assert [f.shape[1] for f in features] == encoder.out_channels
    assert [64 // f.shape[-1] for f in features] == reductions


def _randomize_bn(module: nn.Module) -> None:
    with torch.no_grad():
        for name, buf in module.named_buffers():
            if name.endswith("running_var"):
                buf.uniform_(0.5, 2.0)
            elif name.endswith("running_mean"):
                buf.normal_(0, 0.2)


def test_output_stride_16_is_torchvisions_segmentation_backbone():
    """Same keys (``features.<i>`` = torchvision's ``backbone.<i>``) and the same "low" and "out" features."""
    from torchvision.models.segmentation import lraspp_mobilenet_v3_large

    torch.manual_seed(0)
    reference = lraspp_mobilenet_v3_large(weights=None, weights_backbone=None).backbone.eval()
    _randomize_bn(reference)
    encoder = create_encoder("tv_mobilenet_v3_large", in_channels=3, output_stride=16).eval()
    state = {f"features.{k}": v for k, v in reference.state_dict().items()}
    encoder.load_state_dict(state, strict=True)
    x = torch.randn(1, 3, 96, 64)
    with torch.no_grad():
        ours, theirs = encoder(x), reference(x)
    assert torch.equal(ours[2], theirs["low"]) and torch.equal(ours[4], theirs["high"])


def test_output_stride_8_dilates_the_stride_16_stage_like_torchvision_dilates_the_last():
    encoder = create_encoder("tv_mobilenet_v3_large", in_channels=3, output_stride=8)
    depthwise = {
        i: conv
        for i, block in enumerate(encoder.features)
        for conv in block.modules()
        if isinstance(conv, nn.Conv2d) and conv.groups > 1
    }
    assert {i: c.dilation[0] for i, c in depthwise.items() if c.dilation[0] > 1} == {
        **dict.fromkeys(range(7, 13), 2),
        **dict.fromkeys(range(13, 16), 4),
    }
    assert all(c.stride == (1, 1) for i, c in depthwise.items() if i >= 7)
    assert all(c.padding[0] == (c.kernel_size[0] - 1) // 2 * c.dilation[0] for c in depthwise.values())


def test_loads_torchvisions_imagenet_keys_and_adapts_the_stem():
    from torchvision.models import mobilenet_v3_large

    from segzoo.nn.mobilenetv3 import TVMobileNetV3LargeEncoder

    torch.manual_seed(0)
    reference = mobilenet_v3_large(weights=None).eval()
    _randomize_bn(reference)
    encoder = TVMobileNetV3LargeEncoder().eval()
    encoder.load_imagenet_state_dict(reference.state_dict())  # classifier.* dropped
    x = torch.randn(1, 3, 96, 64)
    with torch.no_grad():
        assert torch.equal(encoder(x)[-1], reference.features(x))
    gray = TVMobileNetV3LargeEncoder(in_channels=1)
    gray.load_imagenet_state_dict(reference.state_dict())
    assert torch.allclose(gray.features[0][0].weight, reference.features[0][0].weight.sum(1, keepdim=True))


def test_bad_output_stride_is_one_clear_error():
    with pytest.raises(segzoo.errors.ConfigurationError, match="output_stride must be 8, 16 or 32"):
        create_encoder("tv_mobilenet_v3_large", output_stride=4)
