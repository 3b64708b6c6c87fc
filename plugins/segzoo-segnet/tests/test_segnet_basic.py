"""segnet_basic (SegNet-Basic) and the kernel-size / decoder-design options of the SegNet encoder and decoder."""

from __future__ import annotations

import pytest
import torch

import segzoo
from segzoo.errors import ConfigurationError
from segzoo_segnet.encoder import SegNetBasicEncoder, SegNetVGGEncoder
from segzoo_segnet.model import SegNetDecoder


def test_segnet_basic_layout():
    model = segzoo.create("segnet", encoder="segnet_basic", num_classes=11)
    enc_convs = [m for m in model.encoder.modules() if isinstance(m, torch.nn.Conv2d)]
    dec_convs = [m for m in model.decoder.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in enc_convs] == [
        (3, 64, (7, 7)),
        (64, 64, (7, 7)),
        (64, 64, (7, 7)),
        (64, 64, (7, 7)),
    ]
    assert all(c.bias is None and c.padding == (3, 3) for c in enc_convs + dec_convs)
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in dec_convs] == [(64, 64, (7, 7))] * 4
    assert model.encoder.reductions == [2, 4, 8, 16]
    # decoder: conv-BN only (no ReLU), one per stage; 1x1 classifier (SegNet-Basic's conv_classifier)
    assert not any(isinstance(m, torch.nn.ReLU) for m in model.decoder.modules())
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.decoder.modules()) == 4
    assert model.head.classifier.kernel_size == (1, 1) and model.head.classifier.in_channels == 64
    n = sum(p.numel() for p in model.parameters())
    # 7*7*(3*64 + 7*64*64) conv weights + 8 BN (2*64 each) + 1x1 classifier (64*11 + 11)
    assert n == 7 * 7 * (3 * 64 + 7 * 64 * 64) + 8 * 128 + 64 * 11 + 11
    assert isinstance(model.encoder, SegNetBasicEncoder)


@pytest.mark.parametrize("size", [(64, 96), (45, 61)])
def test_segnet_basic_forward_backward_odd_sizes(size):
    torch.manual_seed(0)
    model = segzoo.create("segnet", encoder="segnet_basic", num_classes=5, in_channels=1)
    x = torch.randn(2, 1, *size)
    y = model(x)
    assert y.shape == (2, 5, *size)
    y.mean().backward()
    assert model.encoder.stages[0][0][0].weight.grad is not None
    assert model.decoder.stages[-1][0][0].weight.grad is not None


def test_segnet_basic_head_kernel_override_and_errors():
    model = segzoo.create("segnet", encoder="segnet_basic", num_classes=3, head_kernel_size=3)
    assert model.head.classifier.kernel_size == (3, 3)
    with pytest.raises(ConfigurationError, match="pretrained"):
        segzoo.create("segnet", encoder="segnet_basic", num_classes=3, pretrained_encoder=True)
    with pytest.raises(ConfigurationError, match="kernel_size"):
        SegNetBasicEncoder(kernel_size=4)
    with pytest.raises(ConfigurationError, match="kernel_size"):
        SegNetDecoder([[64]], kernel_size=2)


def test_defaults_of_the_vgg_segnet_are_unchanged():
    model = segzoo.create("segnet", encoder="vgg11_bn_segnet", num_classes=2)
    assert model.head.classifier.kernel_size == (3, 3)
    assert len(model.decoder.stages[-1]) == 0  # vgg11's first stage has one conv: the classifier mirrors it
    assert all(m.kernel_size == (3, 3) for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    assert sum(isinstance(m, torch.nn.ReLU) for m in model.decoder.modules()) == 7


def test_kernel_size_option_of_the_vgg_encoder_and_decoder():
    torch.manual_seed(0)
    encoder = SegNetVGGEncoder("vgg11", kernel_size=5)
    assert all(
        m.kernel_size == (5, 5) and m.padding == (2, 2) for m in encoder.modules() if isinstance(m, torch.nn.Conv2d)
    )
    decoder = SegNetDecoder(encoder.stage_channels, kernel_size=5, relu=False, first_stage_conv=True)
    convs = [m for m in decoder.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(c.kernel_size == (5, 5) for c in convs)
    assert convs[-1].in_channels == convs[-1].out_channels == 64 and decoder.out_channels == 64
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert decoder(*encoder.eval().forward_with_indices(x)).shape == (1, 64, 32, 32)


def test_segnet_basic_meta_build_and_assign_load():
    torch.manual_seed(0)
    model = segzoo.create("segnet", encoder="segnet_basic", num_classes=3).eval()
    with torch.device("meta"):
        empty = segzoo.create("segnet", encoder="segnet_basic", num_classes=3)
    empty.load_state_dict(model.state_dict(), strict=True, assign=True)
    x = torch.randn(1, 3, 48, 64)
    with torch.no_grad():
        assert torch.equal(model(x), empty.eval()(x))
