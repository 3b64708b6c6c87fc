"""The aspp_channels option of deeplabv3 / deeplabv3plus (default 256 unchanged)."""

from __future__ import annotations

import pytest
import torch

import segzoo
from segzoo.errors import ConfigurationError


@pytest.mark.parametrize("arch", ["deeplabv3", "deeplabv3plus"])
def test_default_is_256(arch):
    model = segzoo.create(arch, encoder="resnet18", num_classes=3)
    assert model.decoder.aspp.project[0].out_channels == 256
    assert model.decoder.out_channels == 256
    assert model.head.classifier.in_channels == 256


@pytest.mark.parametrize("arch", ["deeplabv3", "deeplabv3plus"])
def test_small_aspp_builds_and_runs(arch):
    torch.manual_seed(0)
    model = segzoo.create(
        arch, encoder="tv_mobilenet_v3_large", num_classes=11, output_stride=16, aspp_channels=64
    ).eval()
    aspp = model.decoder.aspp
    convs = [m for m in aspp.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(c.out_channels == 64 for c in convs)
    assert aspp.project[0].in_channels == 64 * len(aspp.convs)
    assert model.decoder.out_channels == 64 and model.head.classifier.in_channels == 64
    if arch == "deeplabv3plus":
        assert model.decoder.block[0][0].in_channels == 64 + 48
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 80)).shape == (1, 11, 64, 80)
    big = segzoo.create(arch, encoder="tv_mobilenet_v3_large", num_classes=11, output_stride=16)
    n = sum(p.numel() for p in model.parameters())
    assert n < sum(p.numel() for p in big.parameters()) - 1_000_000
    # the option travels in the model config, so save_pretrained / segzoo.load rebuild the same model
    assert model.config["options"]["aspp_channels"] == 64


@pytest.mark.parametrize("bad", [0, -8, 1.5, True])
def test_bad_aspp_channels(bad):
    with pytest.raises(ConfigurationError, match="aspp_channels"):
        segzoo.create("deeplabv3", encoder="resnet18", num_classes=2, aspp_channels=bad)
