"""Lite R-ASPP (Howard et al. 2019, "Searching for MobileNetV3", section 6.2), laid out as torchvision's LRASPPHead.

    high = last encoder feature (stride 16: the encoder's last stage is dilated), low = first stride-8 feature
    decoder.cbr    1x1 conv (no bias) to 128, BN, ReLU on high
    decoder.scale  global average pool, 1x1 conv (no bias) to 128, sigmoid on high   (x = cbr * scale)
    x upsampled (bilinear) to low's size; the decoder returns concat([x, low])
    head.classifier      1x1 conv on the first 128 channels (torchvision's high_classifier)
    head.low_classifier  1x1 conv on the low-level channels; the two are summed

segzoo key <- torchvision key: encoder.features.* <- backbone.*, decoder.{cbr,scale}.* <- classifier.{cbr,scale}.*,
head.classifier.* <- classifier.high_classifier.*, head.low_classifier.* <- classifier.low_classifier.*.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from segzoo.errors import ConfigurationError
from segzoo.nn import Decoder, SegmentationHead, SegmentationModel, create_encoder


class LRASPPDecoder(Decoder):
    """The segmentation head of LR-ASPP up to its two classifiers; outputs ``concat([upsampled x, low])``."""

    def __init__(self, low_channels: int, high_channels: int, low_index: int, inter_channels: int = 128) -> None:
        super().__init__()
        self.low_index = low_index
        self.inter_channels = inter_channels
        self.cbr = nn.Sequential(
            nn.Conv2d(high_channels, inter_channels, 1, bias=False),
            nn.BatchNorm2d(inter_channels),
            nn.ReLU(inplace=True),
        )
        self.scale = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(high_channels, inter_channels, 1, bias=False),
            nn.Sigmoid(),
        )
        self.out_channels = inter_channels + low_channels

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        low, high = features[self.low_index], features[-1]
        x = self.cbr(high) * self.scale(high)
        x = F.interpolate(x, size=low.shape[-2:], mode="bilinear", align_corners=False)
        return torch.cat([x, low], dim=1)


class LRASPPHead(SegmentationHead):
    """``classifier`` (torchvision's ``high_classifier``) on the first ``inter_channels`` channels plus
    ``low_classifier`` on the rest (the low-level feature), summed."""

    def __init__(self, inter_channels: int, low_channels: int, num_classes: int) -> None:
        super().__init__(inter_channels, num_classes)
        self.inter_channels = inter_channels
        self.low_classifier = nn.Conv2d(low_channels, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        high, low = x[:, : self.inter_channels], x[:, self.inter_channels :]
        return self.low_classifier(low) + self.classifier(high)

    def reset_classes(self, num_classes: int) -> None:
        super().reset_classes(num_classes)
        old = self.low_classifier
        self.low_classifier = nn.Conv2d(old.in_channels, num_classes, 1).to(
            device=old.weight.device, dtype=old.weight.dtype
        )


def build_lraspp(
    *,
    encoder: str,
    num_classes: int,
    in_channels: int,
    pretrained_encoder: bool,
    output_stride: int = 16,
    inter_channels: int = 128,
) -> SegmentationModel:
    """LR-ASPP: ``high`` = the encoder's last feature (at ``output_stride``), ``low`` = its first stride-8 feature."""
    enc = create_encoder(encoder, in_channels=in_channels, output_stride=output_stride, pretrained=pretrained_encoder)
    if 8 not in enc.reductions[:-1]:
        raise ConfigurationError(
            f"lraspp needs a stride-8 encoder feature before the last one; {encoder!r} gives strides {enc.reductions}"
        )
    if inter_channels < 1:
        raise ConfigurationError(f"lraspp: inter_channels must be positive, got {inter_channels}")
    low_index = enc.reductions.index(8)
    decoder = LRASPPDecoder(enc.out_channels[low_index], enc.out_channels[-1], low_index, inter_channels)
    head = LRASPPHead(inter_channels, enc.out_channels[low_index], num_classes)
    return SegmentationModel(enc, decoder, head)
