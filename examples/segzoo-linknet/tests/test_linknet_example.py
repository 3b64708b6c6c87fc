"""segzoo-linknet against the segzoo plugin contract and a local Hugging Face Hub, plus LinkNet's structure."""

import pytest
import torch

import segzoo
from segzoo.errors import ConfigurationError
from segzoo.testing import contract
from segzoo_linknet.model import LinkNetDecoder

PACKAGE = "segzoo-linknet"


# Everything the plugin registers, with ResNet-18 (discovery, the architecture, the catalog entry and its download
# from a local Hub), and the main checks again with convnext_atto, which starts at stride 4: the logits come at
# stride 2 and are upsampled by the model.
CHECKS = [
    *contract.plugin_checks(PACKAGE, encoder="resnet18"),
    *contract.architecture_checks(
        "linknet", encoder="convnext_atto", checks=["options", "shapes", "gradients", "save_load"]
    ),
]


@contract.parametrize_with_checks(CHECKS)
def test_contract(check):
    check()


def test_decoder_follows_the_paper():
    model = segzoo.create("linknet", encoder="resnet18", num_classes=2)
    blocks = model.decoder.blocks
    # (m, m/4, n) per block, from the deepest: 512 -> 256, 256 -> 128, 128 -> 64, 64 -> 64 (stem)
    shapes = [(b.reduce[0].in_channels, b.upsample[0].in_channels, b.expand[0].out_channels) for b in blocks]
    assert shapes == [(512, 128, 256), (256, 64, 128), (128, 32, 64), (64, 16, 64)]
    assert all(b.upsample[0].kernel_size == (3, 3) and b.upsample[0].stride == (2, 2) for b in blocks)
    assert model.decoder.final[0][0].out_channels == 32 and model.head.classifier.kernel_size == (1, 1)
    # 11.5M parameters in the paper (ResNet-18 encoder); timm's resnet18 without its fc layer is 11.18M of them
    params = sum(p.numel() for p in model.parameters())
    assert 11.3e6 < params < 11.8e6, params
    x = torch.randn(1, 3, 64, 96)
    features = model.encoder(x)
    assert model.decoder(features).shape == (1, 32, 64, 96)  # stride 1: no upsampling by the model


def test_encoders_whose_strides_do_not_double_are_refused():
    with pytest.raises(ConfigurationError, match="strides double"):
        LinkNetDecoder([64, 128, 512], [4, 8, 32])
