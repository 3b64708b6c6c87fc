"""``ocrnet``: the cascade's structure, its training outputs, options and errors."""

from __future__ import annotations

import pytest
import torch

import segzoo
from segzoo.errors import ConfigurationError
from segzoo_ocrnet.model import spatial_gather


def _model(**options):
    torch.manual_seed(0)
    return segzoo.create("ocrnet", encoder="hrnetv2_w18_small", num_classes=5, **options)


def test_defaults_are_the_papers_hrnet_model():
    model = _model().eval()
    assert model.decoder.head_input == "concat" and model.decoder.in_channels == 270
    assert model.aux_head.block[0].kernel_size == (1, 1) and model.aux_head.block[0].out_channels == 270
    assert model.decoder.bottleneck[0].kernel_size == (3, 3) and model.decoder.out_channels == 512
    assert model.decoder.object_context.query_project[1][0].out_channels == 256
    assert isinstance(model.head.dropout, torch.nn.Identity) and model.head.classifier.in_channels == 512
    with torch.no_grad():
        for size in ((64, 64), (45, 71)):
            assert model(torch.randn(1, 3, *size)).shape == (1, 5, *size)


def test_forward_with_aux_gives_the_regions_and_both_train():
    model = _model().train()
    out = model.forward_with_aux(torch.randn(2, 3, 64, 64))
    assert out["out"].shape == out["aux"].shape == (2, 5, 64, 64)
    (out["out"].mean() + 0.4 * out["aux"].mean()).backward()
    assert model.aux_head.classifier.weight.grad is not None and model.head.classifier.weight.grad is not None


def test_reset_classes_resets_both_classifiers():
    model = _model().eval()
    model.reset_classes(3)
    assert model.aux_head.num_classes == model.head.num_classes == 3
    with torch.no_grad():
        out = model.forward_with_aux(torch.randn(1, 3, 64, 64))
    assert out["out"].shape[1] == out["aux"].shape[1] == 3


def test_spatial_gather_is_a_softmax_weighted_average():
    features = torch.randn(2, 4, 3, 5)
    regions = torch.randn(2, 6, 3, 5)
    pooled = spatial_gather(features, regions)
    assert pooled.shape == (2, 4, 6, 1)
    weights = regions[1, 2].flatten().softmax(0)
    torch.testing.assert_close(pooled[1, :, 2, 0], (features[1].flatten(1) * weights).sum(1))


def test_last_head_input_on_a_dilated_resnet():
    model = segzoo.create(
        "ocrnet",
        encoder="resnet18_v1c",
        num_classes=2,
        output_stride=8,
        head_input="last",
        region_channels=64,
        region_kernel_size=3,
        dropout=0.1,
        ocr_channels=64,
        ocr_key_channels=32,
    ).eval()
    assert model.decoder.in_channels == 512 and model.aux_head.block[0].in_channels == 256
    assert model.aux_head.block[0].kernel_size == (3, 3) and model.head.dropout.p == 0.1
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 2, 64, 64)


def test_errors_say_what_to_do():
    with pytest.raises(ConfigurationError, match="head_input must be one of"):
        _model(head_input="first")
    with pytest.raises(ConfigurationError, match="output_stride=32"):
        _model(output_stride=8)
    with pytest.raises(TypeError):
        _model(scale=2)
