"""mmseg's ResNets as segzoo encoders (segzoo/nn/resnet_v1c.py): strides, dilations, stems and option errors.

Numerical equality with mmseg is proven by the plugins' test_mmseg_parity.py files; these tests need no mmseg."""

from __future__ import annotations

import pytest
import torch

from segzoo.errors import ConfigurationError
from segzoo.nn import create_encoder
from segzoo.nn.resnet_v1c import DilatedResNet


def _dilations(encoder: DilatedResNet, stage: int) -> list[int]:
    return [
        block.conv2.dilation[0] if hasattr(block, "conv3") else block.conv1.dilation[0]
        for block in getattr(encoder, f"layer{stage}")
    ]


@pytest.mark.parametrize(
    "output_stride, reductions", [(8, [2, 4, 8, 8, 8]), (16, [2, 4, 8, 16, 16]), (32, [2, 4, 8, 16, 32])]
)
def test_output_stride_sets_strides_and_contracted_dilations(output_stride, reductions):
    with torch.device("meta"):
        encoder = create_encoder("resnet50_v1c", output_stride=output_stride)
        features = encoder(torch.empty(1, 3, 64, 64))
    assert encoder.reductions == reductions
    assert encoder.out_channels == [64, 256, 512, 1024, 2048]
    assert [64 // f.shape[-1] for f in features] == reductions
    if output_stride == 8:  # the first block of a dilated stage uses half the dilation (contract_dilation)
        assert _dilations(encoder, 3) == [1] + [2] * 5 and _dilations(encoder, 4) == [2, 4, 4]


def test_basic_block_dilates_its_first_conv_only():
    with torch.device("meta"):
        encoder = DilatedResNet(18, deep_stem=True, output_stride=8)
    assert _dilations(encoder, 4) == [2, 4]
    assert all(block.conv2.dilation == (1, 1) for block in encoder.layer4)


def test_stems():
    with torch.device("meta"):
        deep, plain = create_encoder("resnet18_v1c"), create_encoder("resnet18_v1b")
    assert [m.kernel_size for m in deep.stem if isinstance(m, torch.nn.Conv2d)] == [(3, 3)] * 3
    assert [m.kernel_size for m in plain.stem if isinstance(m, torch.nn.Conv2d)] == [(7, 7)]


def test_encoder_options_dilations_and_multi_grid():
    with torch.device("meta"):
        encoder = create_encoder("resnet101_v1c", output_stride=16, options={"multi_grid": [1, 2, 4]})
        assert _dilations(encoder, 4) == [1, 2, 4]
        encoder = create_encoder("resnet50_v1b", output_stride=32, options={"dilations": [1, 1, 2, 4]})
    assert encoder.reductions[-1] == 32 and _dilations(encoder, 4) == [2, 4, 4]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"options": {"multi_grid": [1, 2]}}, "one positive dilation per block"),
        ({"options": {"dilations": [1, 2]}}, "four positive stage dilations"),
        ({"pretrained": True}, "no ImageNet weights"),
    ],
)
def test_bad_options_say_what_to_do(kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        create_encoder("resnet50_v1c", **kwargs)


def test_encoder_options_are_refused_for_timm_encoders():
    with pytest.raises(ConfigurationError, match="apply to segzoo-registered encoders"):
        create_encoder("resnet18", options={"dilations": [1, 1, 2, 4]})
