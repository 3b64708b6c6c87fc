"""LinkNet (Chaurasia & Culurciello 2017, https://arxiv.org/abs/1707.03718) on any encoder whose feature strides
double from one level to the next (timm ResNets, EfficientNets, MobileNets, ConvNeXts...).

Decoder, from the deepest feature up: one block per encoder level, whose output is added to the next finer encoder
feature (the "link"); then a final block to half the finest stride, and a 1x1 classifier::

    encoder features (resnet18)    decoder
    f4  512 ch, stride 32 ──► block(512 -> 256) ─┐
    f3  256 ch, stride 16 ──────────────────────(+)► block(256 -> 128) ─┐
    f2  128 ch, stride  8 ─────────────────────────────────────────────(+)► block(128 -> 64) ─┐
    f1   64 ch, stride  4 ───────────────────────────────────────────────────────────────────(+)► block(64 -> 64) ─┐
    f0   64 ch, stride  2 ─────────────────────────────────────────────────────────────────────────────────────(+)►
         final: 3x3 full-conv x2 (64 -> 32), 3x3 conv (32 -> 32) ► head: 1x1 conv (32 -> classes), stride 1

Decoder block (the paper's Fig. 3): 1x1 conv (m -> m/4), 3x3 full (transposed) convolution x2 (m/4 -> m/4),
1x1 conv (m/4 -> n), each followed by BatchNorm and ReLU. The paper's ResNet-18 has its first features at stride 4
and ends with a 2x2 full-convolution classifier (x2); timm encoders also give the stride-2 stem, which gets a
decoder block of its own, so the classifier is a 1x1 convolution at stride 1 (as in segmentation_models_pytorch).
"""

from __future__ import annotations

import torch
from torch import nn

from segzoo.errors import ConfigurationError
from segzoo.nn import ConvBNReLU, Decoder, SegmentationHead, SegmentationModel, create_encoder


def full_conv_x2(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3 transposed convolution doubling the size exactly, BatchNorm, ReLU."""
    return nn.Sequential(
        nn.ConvTranspose2d(in_channels, out_channels, 3, stride=2, padding=1, output_padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class LinkNetDecoderBlock(nn.Module):
    """1x1 conv (m -> m/4), 3x3 full-conv x2 (m/4 -> m/4), 1x1 conv (m/4 -> n), each with BatchNorm and ReLU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        mid = max(in_channels // 4, 1)
        self.reduce = ConvBNReLU(in_channels, mid, 1)
        self.upsample = full_conv_x2(mid, mid)
        self.expand = ConvBNReLU(mid, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.expand(self.upsample(self.reduce(x)))


class LinkNetDecoder(Decoder):
    """Decoder blocks from the deepest feature to the finest, each added to the encoder feature it reaches, then
    the final block (full-conv x2, 3x3 conv) to ``final_channels`` at half the finest feature's stride."""

    def __init__(self, channels: list[int], reductions: list[int], final_channels: int = 32) -> None:
        super().__init__()
        if len(channels) < 2 or any(b != 2 * a for a, b in zip(reductions, reductions[1:])):
            raise ConfigurationError(
                f"LinkNet needs encoder features whose strides double at every level, got strides {reductions}; "
                "use a CNN encoder such as resnet18/34, efficientnet_b0 or convnext_tiny (not dilated)"
            )
        self.blocks = nn.ModuleList(
            LinkNetDecoderBlock(channels[i], channels[i - 1]) for i in range(len(channels) - 1, 0, -1)
        )
        self.final = nn.Sequential(
            full_conv_x2(channels[0], final_channels), ConvBNReLU(final_channels, final_channels, 3)
        )
        self.out_channels = final_channels
        self.input_divisor = reductions[-1]  # every full-conv doubles exactly: sizes must divide all the way down

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = features[-1]
        for block, skip in zip(self.blocks, reversed(features[:-1])):
            x = block(x) + skip
        return self.final(x)


def build_linknet(
    *,
    encoder: str,
    num_classes: int,
    in_channels: int,
    pretrained_encoder: bool,
    final_channels: int = 32,
    dropout: float = 0.0,
) -> SegmentationModel:
    """``segzoo.create("linknet", encoder="resnet18", num_classes=...)``; options ``final_channels`` (32 in the
    paper) and ``dropout`` before the classifier."""
    enc = create_encoder(encoder, in_channels=in_channels, pretrained=pretrained_encoder)
    dec = LinkNetDecoder(enc.out_channels, enc.reductions, final_channels)
    return SegmentationModel(enc, dec, SegmentationHead(dec.out_channels, num_classes, dropout=dropout))
