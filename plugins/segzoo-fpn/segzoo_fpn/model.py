"""The FPN decoder (semantic branch of Panoptic FPN, Kirillov et al. 2019, https://arxiv.org/abs/1901.02446).

Module for module the same as segmentation_models_pytorch's ``FPNDecoder`` (keys ``p5``, ``p4.skip_conv``,
``seg_blocks.{i}.block.{j}.block.{0,1}``), so smp checkpoints map onto it key for key.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from segzoo.errors import ConfigurationError
from segzoo.nn import Decoder, SegmentationHead, SegmentationModel, create_encoder


class Conv3x3GNReLU(nn.Module):
    """3x3 conv -> GroupNorm(32) -> ReLU, then (optionally) 2x bilinear upsampling with ``align_corners=True``."""

    def __init__(self, in_channels: int, out_channels: int, upsample: bool = False) -> None:
        super().__init__()
        self.upsample = upsample
        self.block = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.GroupNorm(32, out_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block(x)
        if self.upsample:
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=True)
        return x


class FPNBlock(nn.Module):
    """Top-down step: upsample the coarser pyramid level to the skip's size, add the 1x1-projected skip."""

    def __init__(self, pyramid_channels: int, skip_channels: int, interpolation: str = "nearest") -> None:
        super().__init__()
        self.skip_conv = nn.Conv2d(skip_channels, pyramid_channels, kernel_size=1)
        self.interpolation = interpolation

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode=self.interpolation)
        return x + self.skip_conv(skip)


class SegmentationBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, n_upsamples: int = 0) -> None:
        super().__init__()
        blocks = [Conv3x3GNReLU(in_channels, out_channels, upsample=bool(n_upsamples))]
        for _ in range(1, n_upsamples):
            blocks.append(Conv3x3GNReLU(out_channels, out_channels, upsample=True))
        self.block = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class FPNDecoder(Decoder):
    """FPN on the encoder's last four features (C2..C5, strides 4..32 for most encoders).

    Top-down pathway: ``p5`` = 1x1 conv on C5, then ``p4``, ``p3``, ``p2`` = upsample (``interpolation``) + 1x1
    lateral conv. Semantic branch: each P level goes through 3x3 conv-GN(32)-ReLU blocks, each followed by 2x
    bilinear upsampling, until it reaches P2's stride (3, 2, 1, 0 upsamplings); the four maps are summed
    (``merge_policy="add"``) or concatenated (``"cat"``), then spatial dropout. Output stride: C2's (4).
    """

    def __init__(
        self,
        encoder_channels: list[int],
        encoder_reductions: list[int],
        *,
        pyramid_channels: int = 256,
        segmentation_channels: int = 128,
        dropout: float = 0.2,
        merge_policy: str = "add",
        interpolation: str = "nearest",
    ) -> None:
        super().__init__()
        if len(encoder_channels) < 4:
            raise ConfigurationError(
                f"FPN needs an encoder with at least 4 feature levels, this one has {len(encoder_channels)}"
            )
        if merge_policy not in ("add", "cat"):
            raise ConfigurationError(f"merge_policy must be 'add' or 'cat', got {merge_policy!r}")
        if segmentation_channels % 32:
            raise ConfigurationError(
                "segmentation_channels must be a multiple of 32 (GroupNorm with 32 groups), "
                f"got {segmentation_channels}"
            )
        c2, c3, c4, c5 = encoder_channels[-4:]
        reductions = encoder_reductions[-4:]
        ratios = [r / reductions[0] for r in reductions]
        if any(r < 1 or r != 2 ** round(math.log2(r)) for r in ratios):
            raise ConfigurationError(f"FPN needs encoder strides that grow by powers of two, got {encoder_reductions}")
        self.p5 = nn.Conv2d(c5, pyramid_channels, kernel_size=1)
        self.p4 = FPNBlock(pyramid_channels, c4, interpolation)
        self.p3 = FPNBlock(pyramid_channels, c3, interpolation)
        self.p2 = FPNBlock(pyramid_channels, c2, interpolation)
        self.seg_blocks = nn.ModuleList(
            SegmentationBlock(pyramid_channels, segmentation_channels, n_upsamples=round(math.log2(ratio)))
            for ratio in reversed(ratios)
        )
        self.merge_policy = merge_policy
        self.dropout = nn.Dropout2d(p=dropout)
        self.out_channels = segmentation_channels * (4 if merge_policy == "cat" else 1)
        self.input_divisor = max(encoder_reductions)
        self.output_reduction = reductions[0]

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        c2, c3, c4, c5 = features[-4:]
        p5 = self.p5(c5)
        p4 = self.p4(p5, c4)
        p3 = self.p3(p4, c3)
        p2 = self.p2(p3, c2)
        maps = [block(p) for block, p in zip(self.seg_blocks, (p5, p4, p3, p2))]
        x = torch.stack(maps).sum(dim=0) if self.merge_policy == "add" else torch.cat(maps, dim=1)
        return self.dropout(x)


def build_fpn(
    *,
    encoder: str,
    num_classes: int,
    in_channels: int,
    pretrained_encoder: bool,
    pyramid_channels: int = 256,
    segmentation_channels: int = 128,
    merge_policy: str = "add",
    dropout: float = 0.2,
    interpolation: str = "nearest",
    align_corners: bool = True,
    encoder_depth: int | None = None,
) -> SegmentationModel:
    """Panoptic-FPN semantic branch as smp's ``FPN``: options ``pyramid_channels`` (256), ``segmentation_channels``
    (128), ``merge_policy`` (``"add"``/``"cat"``), ``dropout`` (0.2, spatial), ``interpolation`` (top-down
    upsampling, ``"nearest"``), ``align_corners`` (final 4x bilinear resize of the logits; smp uses ``True``),
    ``encoder_depth`` (smp's; ``None`` = all stages). Head: 1x1 conv."""
    enc = create_encoder(encoder, in_channels=in_channels, pretrained=pretrained_encoder, depth=encoder_depth)
    decoder = FPNDecoder(
        enc.out_channels,
        enc.reductions,
        pyramid_channels=pyramid_channels,
        segmentation_channels=segmentation_channels,
        dropout=dropout,
        merge_policy=merge_policy,
        interpolation=interpolation,
    )
    head = SegmentationHead(decoder.out_channels, num_classes, kernel_size=1)
    model = SegmentationModel(enc, decoder, head)
    model.align_corners = align_corners
    return model
