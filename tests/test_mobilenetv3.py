"""The torchvision-layout MobileNetV3-Large encoder that torchvision's segmentation checkpoints need."""

from __future__ import annotations

import pytest
import torch

import segzoo  # noqa: F401


@pytest.mark.parametrize(("output_stride", "reductions"), [(32, [2, 4, 8, 16, 32]), (16, [2, 4, 8, 16, 16]),
                                                            (8, [2, 4, 8, 8, 8])])
def test_tv_mobilenet_strides(output_stride, reductions):
    from segzoo.nn import create_encoder

    encoder = create_encoder("tv_mobilenet_v3_large", in_channels=1, output_stride=output_stride).eval()
    assert encoder.reductions == reductions and encoder.out_channels == [16, 24, 40, 80, 960]
    with torch.no_grad():
        features = encoder(torch.randn(1, 1, 64, 64))
    assert [f.shape[1] for f in features] == encoder.out_channels
    assert [64 // f.shape[-1] for f in features] == reductions


def test_tv_mobilenet_matches_torchvision_and_loads_its_imagenet_keys():
    models = pytest.importorskip("torchvision.models")
    from segzoo.nn.mobilenetv3 import TVMobileNetV3LargeEncoder

    torch.manual_seed(0)
    reference = models.mobilenet_v3_large(weights=None).eval()
    with torch.no_grad():
        for name, buf in reference.named_buffers():
            if name.endswith("running_var"):
                buf.uniform_(0.5, 2.0)
            elif name.endswith("running_mean"):
                buf.normal_(0, 0.2)
    encoder = TVMobileNetV3LargeEncoder().eval()
    encoder.load_imagenet_state_dict(reference.state_dict())  # classifier.* dropped
    x = torch.randn(1, 3, 96, 64)
    with torch.no_grad():
        assert torch.allclose(encoder(x)[-1], reference.features(x), atol=1e-5)
    gray = TVMobileNetV3LargeEncoder(in_channels=1)
    gray.load_imagenet_state_dict(reference.state_dict())
    assert torch.allclose(gray.features[0][0].weight, reference.features[0][0].weight.sum(1, keepdim=True))
