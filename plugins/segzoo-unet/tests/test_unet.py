"""Shapes, options and errors of ``unet`` and ``unet-original``."""

from __future__ import annotations

import pytest
import torch

import segzoo
from segzoo.errors import ConfigurationError


def forward_backward(model, x):
    model.train()
    y = model(x)
    y.mean().backward()
    grads = [p.grad for p in model.encoder.parameters() if p.requires_grad]
    assert grads and grads[0] is not None
    return y


@pytest.mark.parametrize("encoder", ["resnet18", "efficientnet_b0", "convnext_atto"])
def test_unet_timm_encoders(encoder):
    torch.manual_seed(0)
    model = segzoo.create("unet", encoder=encoder, num_classes=3)
    y = forward_backward(model, torch.randn(1, 3, 64, 96))
    assert y.shape == (1, 3, 64, 96)
    assert model.decoder.input_divisor == 32
    assert len(model.decoder.blocks) == 5
    if encoder == "convnext_atto":  # finest feature at stride 4: no skips at strides 2 and 1
        assert model.decoder.skip_indices[-2:] == [-1, -1]


@pytest.mark.parametrize(("in_channels", "num_classes"), [(1, 1), (4, 150)])
def test_unet_channels_and_classes(in_channels, num_classes):
    torch.manual_seed(0)
    model = segzoo.create("unet", encoder="resnet18", num_classes=num_classes, in_channels=in_channels).eval()
    with torch.no_grad():
        y = model(torch.randn(1, in_channels, 64, 64))
    assert y.shape == (1, num_classes, 64, 64)


def test_unet_options():
    torch.manual_seed(0)
    model = segzoo.create(
        "unet",
        encoder="resnet18",
        num_classes=2,
        decoder_channels=(64, 48, 32, 24, 8),
        use_batchnorm=False,
        attention="scse",
        interpolation="bilinear",
    ).eval()
    assert model.head.classifier.in_channels == 8
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.decoder.modules())
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 64)).shape == (1, 2, 32, 64)
    shallow = segzoo.create("unet", encoder="resnet18", num_classes=2, encoder_depth=3)
    assert shallow.decoder.input_divisor == 8
    assert not any(k.startswith("encoder.body.layer3") for k in shallow.state_dict())
    with torch.no_grad():
        assert shallow.eval()(torch.randn(1, 3, 40, 24)).shape == (1, 2, 40, 24)


def test_unet_errors():
    model = segzoo.create("unet", encoder="resnet18", num_classes=2).eval()
    with pytest.raises(ValueError, match="divisible by 32"):
        model.forward_with_aux(torch.randn(1, 3, 64, 70))
    with pytest.raises(ConfigurationError, match="decoder_channels needs 5 entries"):
        segzoo.create("unet", encoder="resnet18", decoder_channels=(64, 32))
    with pytest.raises(ConfigurationError, match="attention"):
        segzoo.create("unet", encoder="resnet18", attention="cbam")
    with pytest.raises(TypeError):
        segzoo.create("unet", encoder="resnet18", no_such_option=1)


def test_unet_original_paper_layout_and_size():
    torch.manual_seed(0)
    model = segzoo.create("unet-original", num_classes=2, in_channels=1)
    assert model.config["encoder"] == "unet-classic"
    assert model.encoder.out_channels == [64, 128, 256, 512, 1024]
    assert model.encoder.reductions == [1, 2, 4, 8, 16]
    assert [up.out_channels for up in model.decoder.ups] == [512, 256, 128, 64]  # up-convs halve the channels
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert model.head.classifier.kernel_size == (1, 1)
    # 23 convolutional layers in the paper: 18 3x3 convs, 4 up-convs, 1 final 1x1
    convs = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    assert len(convs) == 23
    y = forward_backward(model, torch.randn(1, 1, 48, 80))
    assert y.shape == (1, 2, 48, 80)  # padded convs: output size = input size
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 1, 32, 32)).shape == (1, 2, 32, 32)
    with pytest.raises(ValueError, match="divisible by 16"):
        model.forward_with_aux(torch.randn(1, 1, 64, 72))


def test_unet_original_variants():
    torch.manual_seed(0)
    bn = segzoo.create("unet-original", encoder="unet-classic-bn", num_classes=3, dropout=0.5)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in bn.decoder.modules())
    with torch.no_grad():
        assert bn.eval()(torch.randn(1, 3, 32, 32)).shape == (1, 3, 32, 32)
    res = segzoo.create("unet-original", encoder="resnet18", num_classes=150)
    assert res.decoder.output_reduction == 2  # the model upsamples the logits
    with torch.no_grad():
        assert res.eval()(torch.randn(1, 3, 64, 64)).shape == (1, 150, 64, 64)
    with pytest.raises(ConfigurationError, match="no pretrained weights"):
        segzoo.create("unet-original", num_classes=2, pretrained_encoder=True)
    from segzoo_unet.classic import UNetOriginalDecoder

    with pytest.raises(ConfigurationError, match="double"):
        UNetOriginalDecoder([64, 128, 256], [2, 4, 16])


def test_unet_original_base_channels_narrows_every_level():
    narrow = segzoo.create(
        "unet-original", encoder="unet-classic-bn", num_classes=2, encoder_options={"base_channels": 16}
    )
    assert narrow.encoder.out_channels == [16, 32, 64, 128, 256]
    assert narrow.decoder.out_channels == 16
    full = sum(p.numel() for p in segzoo.create("unet-original", encoder="unet-classic-bn", num_classes=2).parameters())
    assert sum(p.numel() for p in narrow.parameters()) < full / 12  # about 1/16: the widths are 1/4
    with torch.no_grad():
        assert narrow.eval()(torch.randn(1, 3, 32, 48)).shape == (1, 2, 32, 48)
    with pytest.raises(ConfigurationError, match="base_channels must be a positive integer"):
        segzoo.create("unet-original", encoder="unet-classic", num_classes=2, encoder_options={"base_channels": 0})


@pytest.mark.slow
def test_unet_original_mmseg_layout_trains_with_aux():
    """mmseg's layout: bilinear up-sampling, a context head, the auxiliary head on the stride-2 level."""
    torch.manual_seed(0)
    model = segzoo.create(
        "unet-original",
        encoder="unet-classic-bn",
        num_classes=2,
        upsampling="bilinear",
        decode_head="fcn",
        aux_head=True,
    )
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in model.modules())
    assert model.aux_head.block[0].in_channels == 128
    out = model.train().forward_with_aux(torch.randn(2, 3, 16, 32))
    assert out["out"].shape == out["aux"].shape == (2, 2, 16, 32)
    (out["out"].mean() + out["aux"].mean()).backward()
    assert model.aux_head.classifier.weight.grad is not None
    model.reset_classes(5)
    assert model.aux_head.num_classes == 5
    for head in ("psp", "aspp"):
        other = segzoo.create("unet-original", encoder="unet-classic-bn", num_classes=3, decode_head=head).eval()
        with torch.no_grad():
            assert other(torch.randn(1, 3, 16, 16)).shape == (1, 3, 16, 16)


def test_unet_original_mmseg_option_errors():
    with pytest.raises(ConfigurationError, match="decode_head must be one of"):
        segzoo.create("unet-original", encoder="unet-classic-bn", num_classes=2, decode_head="uper")
    with pytest.raises(ConfigurationError, match="upsampling must be"):
        segzoo.create("unet-original", encoder="unet-classic-bn", num_classes=2, upsampling="nearest")
