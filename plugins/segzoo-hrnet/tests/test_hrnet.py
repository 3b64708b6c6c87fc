"""The HRNet encoders and the ``hrnet`` architecture: structure, shapes, options and errors."""

from __future__ import annotations

import pytest
import torch

import segzoo
from segzoo.errors import ConfigurationError
from segzoo.nn import create_encoder


def test_encoder_branches_and_strides():
    enc = create_encoder("hrnetv2_w18_small").eval()
    assert enc.out_channels == [18, 36, 72, 144] and enc.reductions == [4, 8, 16, 32]
    assert len(enc.layer1) == 2 and [len(enc.stage2), len(enc.stage3), len(enc.stage4)] == [1, 3, 2]
    with torch.no_grad():
        features = enc(torch.randn(1, 3, 64, 96))
    assert [tuple(f.shape[1:]) for f in features] == [(18, 16, 24), (36, 8, 12), (72, 4, 6), (144, 2, 3)]


@pytest.mark.parametrize(
    ("name", "widths", "blocks", "params"),
    [
        ("hrnetv2_w18", [18, 36, 72, 144], 4, 9.6e6),
        ("hrnetv2_w48", [48, 96, 192, 384], 4, 65.3e6),
    ],
)
def test_bigger_variants(name, widths, blocks, params):
    with torch.device("meta"):
        enc = create_encoder(name)
    assert enc.out_channels == widths
    assert len(enc.stage4[0].branches[3]) == blocks and [len(enc.stage3), len(enc.stage4)] == [4, 3]
    assert sum(p.numel() for p in enc.parameters()) == pytest.approx(params, rel=0.01)


def test_every_branch_reaches_every_other():
    """Exchange units: 1x1 conv-BN up, one strided conv per halving down (ReLU between, none after the last)."""
    enc = create_encoder("hrnetv2_w18_small")
    fuse = enc.stage4[0].fuse_layers
    assert isinstance(fuse[0][0], torch.nn.Identity)
    assert fuse[0][3][0].kernel_size == (1, 1) and fuse[0][3][0].in_channels == 144
    down = fuse[3][0]
    assert len(down) == 3 and [s[0].stride for s in down] == [(2, 2)] * 3
    assert isinstance(down[0][2], torch.nn.ReLU) and len(down[2]) == 2 and down[2][0].out_channels == 144


def test_hrnet_architecture_defaults():
    model = segzoo.create("hrnet", encoder="hrnetv2_w18_small", num_classes=5).eval()
    assert model.decoder.fuse[0].kernel_size == (1, 1) and model.decoder.out_channels == 270
    assert isinstance(model.head.dropout, torch.nn.Identity) and model.align_corners is False
    with torch.no_grad():
        for size in ((64, 64), (45, 71)):  # any size: every level is resized to the finest
            assert model(torch.randn(1, 3, *size)).shape == (1, 5, *size)


def test_hrnet_options_and_other_encoders():
    model = segzoo.create(
        "hrnet",
        encoder="hrnetv2_w18_small",
        num_classes=2,
        in_channels=4,
        channels=32,
        kernel_size=3,
        dropout=0.1,
        align_corners=True,
    ).eval()
    assert model.decoder.fuse[0].kernel_size == (3, 3) and model.head.classifier.in_channels == 32
    assert model.align_corners and model.decoder.align_corners and model.head.dropout.p == 0.1
    with torch.no_grad():
        assert model(torch.randn(1, 4, 64, 64)).shape == (1, 2, 64, 64)
    resnet = segzoo.create("hrnet", encoder="resnet18", num_classes=3).eval()
    assert resnet.decoder.out_channels == sum(resnet.encoder.out_channels)
    with torch.no_grad():
        assert resnet(torch.randn(1, 3, 64, 64)).shape == (1, 3, 64, 64)


def test_errors_say_what_to_do():
    with pytest.raises(ConfigurationError, match="output_stride=32"):
        create_encoder("hrnetv2_w18", output_stride=8)
    with pytest.raises(ConfigurationError, match="no ImageNet weights.*segzoo.load"):
        create_encoder("hrnetv2_w18", pretrained=True)
    with pytest.raises(TypeError):
        segzoo.create("hrnet", encoder="hrnetv2_w18_small", in_index=(0, 1))
