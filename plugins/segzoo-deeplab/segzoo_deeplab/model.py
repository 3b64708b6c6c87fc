"""DeepLabV3 (Chen et al. 2017) and DeepLabV3+ (Chen et al. 2018), laid out as torchvision's ``DeepLabHead``.

State-dict layout (segzoo key <- torchvision key):

    encoder.body.*  (timm) or encoder.features.* (tv_mobilenet_v3_large)  <- backbone.*
    decoder.aspp.convs.{0..4}.*, decoder.aspp.project.*                   <- classifier.0.*
    decoder.block.{0,1}.*  (3x3 conv, BN)                                  <- classifier.{1,2}.*
    head.classifier.*                                                      <- classifier.4.*
    aux_head.block.{0,1}.*, aux_head.classifier.*                          <- aux_classifier.{0,1,4}.*
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from segzoo.errors import ConfigurationError
from segzoo.nn import (
    AuxiliaryHead,
    ConvBNReLU,
    Decoder,
    Encoder,
    SegmentationHead,
    SegmentationModel,
    create_encoder,
)

#: DeepLabV3's atrous rates for each output stride (rates double when the stride halves)
DEFAULT_RATES = {8: (12, 24, 36), 16: (6, 12, 18)}


class ASPPPooling(nn.Sequential):
    """Image-level branch: global average pool, 1x1 conv-BN-ReLU, bilinear upsampling to the input size."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        for module in self:
            x = module(x)
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class SeparableConvBNReLU(nn.Sequential):
    """Depthwise 3x3 conv-BN-ReLU (``0``-``2``), then pointwise 1x1 conv-BN-ReLU (``3``-``5``), as in mmseg's
    DeepLabV3+ (both convolutions normalised and activated)."""

    def __init__(self, in_channels: int, out_channels: int, *, dilation: int = 1) -> None:
        super().__init__(
            nn.Conv2d(in_channels, in_channels, 3, padding=dilation, dilation=dilation, groups=in_channels, bias=False),
            nn.BatchNorm2d(in_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: ``convs`` = 1x1 branch, one 3x3 branch per rate, image pooling; ``project`` =
    conv-BN-ReLU over their concatenation, then dropout.

    torchvision's ``ASPP`` by default (1x1 projection, Dropout(0.5)); ``mmseg=True`` gives mmseg's ``ASPPHead``
    module (3x3 projection, no dropout; mmseg concatenates the pooling branch first, which only permutes the
    projection's input channels) and, with ``separable``, depthwise-separable rate branches (its DeepLabV3+).
    """

    def __init__(
        self,
        in_channels: int,
        atrous_rates: Sequence[int],
        out_channels: int = 256,
        *,
        mmseg: bool = False,
        separable: bool = False,
    ) -> None:
        super().__init__()
        branches: list[nn.Module] = [
            nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)
            )
        ]
        for rate in atrous_rates:
            if separable:
                branches.append(SeparableConvBNReLU(in_channels, out_channels, dilation=rate))
                continue
            branches.append(
                nn.Sequential(
                    nn.Conv2d(in_channels, out_channels, 3, padding=rate, dilation=rate, bias=False),
                    nn.BatchNorm2d(out_channels),
                    nn.ReLU(inplace=True),
                )
            )
        branches.append(ASPPPooling(in_channels, out_channels))
        self.convs = nn.ModuleList(branches)
        kernel_size = 3 if mmseg else 1
        self.project = nn.Sequential(
            nn.Conv2d(len(branches) * out_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Dropout(0.0 if mmseg else 0.5),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([branch(x) for branch in self.convs], dim=1))


class DeepLabV3Decoder(Decoder):
    """ASPP on the deepest feature, then a 3x3 conv-BN-ReLU (``block``); the head's 1x1 classifier follows.

    ``mmseg=True``: mmseg's ``ASPPHead``, whose 3x3 projection is the last layer before the classifier (no
    ``block``)."""

    def __init__(self, in_channels: int, atrous_rates: Sequence[int], channels: int = 256, *, mmseg: bool = False):
        super().__init__()
        self.aspp = ASPP(in_channels, atrous_rates, channels, mmseg=mmseg)
        self.block = nn.Identity() if mmseg else ConvBNReLU(channels, channels, 3)
        self.out_channels = channels

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        return self.block(self.aspp(features[-1]))


class DeepLabV3PlusDecoder(Decoder):
    """DeepLabV3+'s decoder: ASPP output upsampled (bilinear) to the stride-4 feature, which is first reduced to
    ``low_reduced`` (48) channels by a 1x1 conv-BN-ReLU (``reduce``); their concatenation goes through two 3x3
    conv-BN-ReLU (``block``). ``mmseg=True``: mmseg's ``DepthwiseSeparableASPPHead``, with depthwise-separable ASPP
    branches and ``block`` convs and the upsampling's ``align_corners`` from its config."""

    def __init__(
        self,
        in_channels: int,
        low_channels: int,
        low_index: int,
        atrous_rates: Sequence[int],
        *,
        channels: int = 256,
        low_reduced: int = 48,
        mmseg: bool = False,
        align_corners: bool = False,
    ) -> None:
        super().__init__()
        self.low_index = low_index
        self.align_corners = align_corners
        self.aspp = ASPP(in_channels, atrous_rates, channels, mmseg=mmseg, separable=mmseg)
        self.reduce = ConvBNReLU(low_channels, low_reduced, 1)
        if mmseg:
            self.block = nn.Sequential(
                SeparableConvBNReLU(channels + low_reduced, channels), SeparableConvBNReLU(channels, channels)
            )
        else:
            self.block = nn.Sequential(
                ConvBNReLU(channels + low_reduced, channels, 3),
                ConvBNReLU(channels, channels, 3),
            )
        self.out_channels = channels

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        low = self.reduce(features[self.low_index])
        x = F.interpolate(
            self.aspp(features[-1]), size=low.shape[-2:], mode="bilinear", align_corners=self.align_corners
        )
        return self.block(torch.cat([x, low], dim=1))


# -- shared helpers --------------------------------------------------------------------------------------------------
def dilated_encoder(
    arch: str,
    encoder: str,
    *,
    in_channels: int,
    output_stride: int,
    pretrained: bool,
    allowed: Sequence[int],
    options: dict | None = None,
) -> Encoder:
    """Create the encoder at one of the ``allowed`` output strides (the core checks it really runs at it)."""
    if output_stride not in allowed:
        raise ConfigurationError(
            f"{arch}: output_stride must be one of {', '.join(map(str, allowed))}, got {output_stride!r}"
        )
    return create_encoder(
        encoder, in_channels=in_channels, output_stride=output_stride, pretrained=pretrained, options=options
    )


def resolve_index(encoder: Encoder, index: int, *, arch: str, option: str) -> int:
    n = len(encoder.out_channels)
    if not -n <= index < n:
        raise ConfigurationError(f"{arch}: {option}={index} is out of range for an encoder with {n} feature maps")
    return index % n


def auxiliary_head(encoder: Encoder, num_classes: int, aux_index: int, *, arch: str) -> AuxiliaryHead:
    """torchvision's FCNHead (3x3 conv to in/4, BN, ReLU, Dropout(0.1), 1x1) on feature ``aux_index``."""
    index = resolve_index(encoder, aux_index, arch=arch, option="aux_index")
    return AuxiliaryHead(encoder.out_channels[index], num_classes, feature_index=index)


def atrous_rates_for(arch: str, output_stride: int, atrous_rates: Sequence[int] | None) -> tuple[int, ...]:
    if atrous_rates is None:
        return DEFAULT_RATES[output_stride]
    rates = tuple(int(r) for r in atrous_rates)
    if not rates or any(r < 1 for r in rates):
        raise ConfigurationError(f"{arch}: atrous_rates must be positive integers, got {atrous_rates!r}")
    return rates


def _channels(arch: str, value: int, option: str = "aspp_channels") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{arch}: {option} must be a positive integer, got {value!r}")
    return value


# -- builders ----------------------------------------------------------------------------------------------------------
def build_deeplabv3(
    *,
    encoder: str,
    num_classes: int,
    in_channels: int,
    pretrained_encoder: bool,
    output_stride: int = 8,
    atrous_rates: Sequence[int] | None = None,
    aux_head: bool = False,
    aux_index: int = -2,
    aspp_channels: int = 256,
    mmseg_head: bool = False,
    align_corners: bool = False,
    encoder_options: dict | None = None,
) -> SegmentationModel:
    """DeepLabV3: dilated encoder -> ASPP -> 3x3 conv-BN-ReLU -> 1x1 classifier; optional FCN auxiliary head.

    ``atrous_rates`` defaults to (12, 24, 36) at output stride 8 and (6, 12, 18) at 16. ``aux_index`` picks the encoder
    feature of the auxiliary head (default: the one before the last, ResNet's layer3). ``aspp_channels``: width of
    the ASPP branches, its projection and the 3x3 block (256 in the paper and torchvision; smaller for tiny models).
    ``mmseg_head``: mmseg's ``ASPPHead`` (3x3 projection without dropout, no extra block); ``align_corners`` for the
    logits resize; ``encoder_options`` for a segzoo-registered encoder (e.g. ``resnet101_v1c``'s ``multi_grid``).
    """
    enc = dilated_encoder(
        "deeplabv3",
        encoder,
        in_channels=in_channels,
        output_stride=output_stride,
        pretrained=pretrained_encoder,
        allowed=(8, 16),
        options=encoder_options,
    )
    decoder = DeepLabV3Decoder(
        enc.out_channels[-1],
        atrous_rates_for("deeplabv3", output_stride, atrous_rates),
        channels=_channels("deeplabv3", aspp_channels),
        mmseg=mmseg_head,
    )
    head = SegmentationHead(decoder.out_channels, num_classes)
    aux = auxiliary_head(enc, num_classes, aux_index, arch="deeplabv3") if aux_head else None
    model = SegmentationModel(enc, decoder, head, aux)
    model.align_corners = align_corners
    return model


def build_deeplabv3plus(
    *,
    encoder: str,
    num_classes: int,
    in_channels: int,
    pretrained_encoder: bool,
    output_stride: int = 16,
    atrous_rates: Sequence[int] | None = None,
    aux_head: bool = False,
    aux_index: int = -2,
    aspp_channels: int = 256,
    low_channels: int = 48,
    mmseg_head: bool = False,
    align_corners: bool = False,
    encoder_options: dict | None = None,
) -> SegmentationModel:
    """DeepLabV3+: DeepLabV3's ASPP plus a decoder fusing the stride-4 encoder feature (48 channels after 1x1).

    ``aspp_channels``: width of the ASPP and of the decoder's 3x3 convs (256 in the paper); ``low_channels``: width
    of the reduced stride-4 feature (48); ``mmseg_head``: mmseg's ``DepthwiseSeparableASPPHead`` (separable ASPP
    branches and decoder convs, 3x3 ASPP projection without dropout); ``align_corners`` for the decoder's upsampling
    and the logits resize; ``encoder_options`` for a segzoo-registered encoder."""
    enc = dilated_encoder(
        "deeplabv3plus",
        encoder,
        in_channels=in_channels,
        output_stride=output_stride,
        pretrained=pretrained_encoder,
        allowed=(8, 16),
        options=encoder_options,
    )
    if 4 not in enc.reductions:
        raise ConfigurationError(
            f"deeplabv3plus needs a stride-4 encoder feature for its decoder; {encoder!r} gives strides "
            f"{enc.reductions}"
        )
    low_index = max(i for i, r in enumerate(enc.reductions) if r == 4)  # the deepest stride-4 map
    decoder = DeepLabV3PlusDecoder(
        enc.out_channels[-1],
        enc.out_channels[low_index],
        low_index,
        atrous_rates_for("deeplabv3plus", output_stride, atrous_rates),
        channels=_channels("deeplabv3plus", aspp_channels),
        low_reduced=_channels("deeplabv3plus", low_channels, "low_channels"),
        mmseg=mmseg_head,
        align_corners=align_corners,
    )
    head = SegmentationHead(decoder.out_channels, num_classes)
    aux = auxiliary_head(enc, num_classes, aux_index, arch="deeplabv3plus") if aux_head else None
    model = SegmentationModel(enc, decoder, head, aux)
    model.align_corners = align_corners
    return model
