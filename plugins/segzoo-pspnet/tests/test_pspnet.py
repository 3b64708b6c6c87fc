"""Shapes, paper defaults, options and errors of ``pspnet``."""

from __future__ import annotations

import pytest
import torch

import segzoo
from segzoo.errors import ConfigurationError


def test_pspnet_paper_defaults():
    torch.manual_seed(0)
    model = segzoo.create("pspnet", num_classes=21).eval()
    assert model.config["encoder"] == "resnet50"
    assert model.encoder.reductions == [2, 4, 8, 8, 8]  # dilated ResNet, output stride 8
    assert model.encoder.body.layer4[0].conv2.dilation == (2, 2)
    assert [b.bin_size for b in model.decoder.psp.blocks] == [1, 2, 3, 6]
    assert [b.pool[1][0].out_channels for b in model.decoder.psp.blocks] == [512] * 4  # 2048 / 4 per bin
    assert all(isinstance(b.pool[1][1], torch.nn.BatchNorm2d) for b in model.decoder.psp.blocks)
    assert model.decoder.conv[0].kernel_size == (3, 3) and model.decoder.conv[0].out_channels == 512
    assert model.decoder.dropout.p == 0.1
    assert model.head.classifier.kernel_size == (1, 1)
    assert model.aux_head is None and model.align_corners is False
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 21, 64, 64)


@pytest.mark.parametrize(
    ("encoder", "options"),
    [("resnet18", {}), ("efficientnet_b0", {}), ("convnext_atto", {"output_stride": 32})],
)
def test_pspnet_timm_encoders_forward_backward(encoder, options):
    torch.manual_seed(0)
    model = segzoo.create("pspnet", encoder=encoder, num_classes=3, **options).train()
    y = model(torch.randn(2, 3, 64, 64))
    assert y.shape == (2, 3, 64, 64)
    y.mean().backward()
    assert next(model.encoder.parameters()).grad is not None


@pytest.mark.parametrize(("in_channels", "num_classes", "size"), [(1, 1, (64, 64)), (4, 150, (70, 90))])
def test_pspnet_channels_classes_any_size(in_channels, num_classes, size):
    model = segzoo.create("pspnet", encoder="resnet18", num_classes=num_classes, in_channels=in_channels).eval()
    with torch.no_grad():
        assert model(torch.randn(1, in_channels, *size)).shape == (1, num_classes, *size)


def test_pspnet_aux_head():
    torch.manual_seed(0)
    model = segzoo.create("pspnet", encoder="resnet18", num_classes=5, aux_head=True).train()
    assert model.aux_head.feature_index == 3 and model.aux_head.block[0].in_channels == 256  # layer3
    out = model.forward_with_aux(torch.randn(2, 3, 64, 64))
    assert out["out"].shape == out["aux"].shape == (2, 5, 64, 64)
    (out["out"].mean() + 0.4 * out["aux"].mean()).backward()
    assert model.aux_head.classifier.weight.grad is not None


def test_pspnet_options_and_errors():
    model = segzoo.create(
        "pspnet",
        encoder="resnet18",
        num_classes=2,
        output_stride=16,
        bins=(1, 2, 4, 8),
        psp_out_channels=128,
        bottleneck_kernel_size=1,
        head_kernel_size=3,
        norm_in_global_bin=False,
        align_corners=True,
    ).eval()
    assert model.encoder.reductions == [2, 4, 8, 16, 16]
    assert isinstance(model.decoder.psp.blocks[0].pool[1][1], torch.nn.Identity)
    assert model.decoder.psp.blocks[0].pool[1][0].bias is not None
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 2, 64, 64)
    with pytest.raises(ConfigurationError, match="do not split"):
        segzoo.create("pspnet", encoder="resnet18", bins=(1, 2, 3))
    with pytest.raises(ConfigurationError, match="output_stride"):
        segzoo.create("pspnet", encoder="resnet18", output_stride=4)
    with pytest.raises(TypeError):
        segzoo.create("pspnet", encoder="resnet18", upsampling=8)


def test_meta_build_and_assign_load():
    """segzoo's loader builds on the meta device and loads with assign=True; align_corners survives (attribute)."""
    torch.manual_seed(0)
    options = {"encoder_depth": 3, "align_corners": True, "aux_head": True}
    model = segzoo.create("pspnet", encoder="resnet18", num_classes=3, **options).eval()
    with torch.device("meta"):
        empty = segzoo.create("pspnet", encoder="resnet18", num_classes=3, **options)
    empty.load_state_dict(model.state_dict(), strict=True, assign=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x), empty.eval()(x))
