"""Context heads that ``unet-original`` can put on its full-resolution output: FCN, pyramid pooling, ASPP.

mmsegmentation trains its U-Net (``UNet-S5-D16``) with one of three decode heads on the last decoder feature
(64 channels, stride 1). The heads are small, so the plugin carries them instead of depending on the fcn, pspnet
and deeplab plugins. Each is a :class:`~segzoo.nn.SegmentationHead` (``dropout`` + 1x1 ``classifier``) preceded by
its context module; every conv is conv-BN-ReLU (``ConvBNReLU``, children ``0``/``1``/``2``).

- ``fcn``: ``convs.0``, a 3x3 conv to ``channels``.
- ``psp``: ``pools.{i}`` = adaptive average pooling to ``s x s`` then 1x1 conv, resized back bilinearly and
  concatenated after the input; ``bottleneck`` 3x3 conv.
- ``aspp``: ``image_pool`` (global pooling, 1x1 conv, resized back) first, then ``branches.{i}`` (1x1 for dilation 1,
  else 3x3 dilated); ``bottleneck`` 3x3 conv.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from segzoo.errors import ConfigurationError
from segzoo.nn import ConvBNReLU, SegmentationHead

#: context head -> default ``channels`` (the widths of mmseg's U-Net configs)
HEAD_CHANNELS = {"fcn": 64, "psp": 16, "aspp": 16}


class _ContextHead(SegmentationHead):
    """A context module (``context``) then spatial dropout and the 1x1 classifier."""

    def __init__(self, channels: int, num_classes: int, dropout: float) -> None:
        super().__init__(channels, num_classes, dropout=dropout)

    def context(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.context(x)))


class FCNContextHead(_ContextHead):
    """One 3x3 conv-BN-ReLU (the FCN head as mmseg's U-Net configs use it)."""

    def __init__(self, in_channels: int, num_classes: int, *, channels: int = 64, dropout: float = 0.1) -> None:
        super().__init__(channels, num_classes, dropout)
        self.convs = nn.Sequential(ConvBNReLU(in_channels, channels, 3))

    def context(self, x: torch.Tensor) -> torch.Tensor:
        return self.convs(x)


def _pooled(x: torch.Tensor, branch: nn.Module, align_corners: bool) -> torch.Tensor:
    return F.interpolate(branch(x), size=x.shape[-2:], mode="bilinear", align_corners=align_corners)


class PSPContextHead(_ContextHead):
    """Pyramid pooling (PSPNet) over ``pool_scales`` bins."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        channels: int = 16,
        pool_scales: tuple[int, ...] = (1, 2, 3, 6),
        align_corners: bool = False,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(channels, num_classes, dropout)
        self.align_corners = align_corners
        self.pools = nn.ModuleList(
            nn.Sequential(nn.AdaptiveAvgPool2d(int(s)), ConvBNReLU(in_channels, channels, 1)) for s in pool_scales
        )
        self.bottleneck = ConvBNReLU(in_channels + len(self.pools) * channels, channels, 3)

    def context(self, x: torch.Tensor) -> torch.Tensor:
        pooled = [_pooled(x, pool, self.align_corners) for pool in self.pools]
        return self.bottleneck(torch.cat([x, *pooled], dim=1))


class ASPPContextHead(_ContextHead):
    """Atrous spatial pyramid pooling (DeepLabV3) with image pooling first."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        channels: int = 16,
        dilations: tuple[int, ...] = (1, 12, 24, 36),
        align_corners: bool = False,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(channels, num_classes, dropout)
        self.align_corners = align_corners
        self.image_pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), ConvBNReLU(in_channels, channels, 1))
        self.branches = nn.ModuleList(
            ConvBNReLU(in_channels, channels, 1) if d == 1 else ConvBNReLU(in_channels, channels, 3, dilation=int(d))
            for d in dilations
        )
        self.bottleneck = ConvBNReLU((len(self.branches) + 1) * channels, channels, 3)

    def context(self, x: torch.Tensor) -> torch.Tensor:
        outs = [_pooled(x, self.image_pool, self.align_corners), *(branch(x) for branch in self.branches)]
        return self.bottleneck(torch.cat(outs, dim=1))


def build_context_head(
    kind: str,
    in_channels: int,
    num_classes: int,
    *,
    channels: int | None = None,
    pool_scales: tuple[int, ...] | list[int] = (1, 2, 3, 6),
    dilations: tuple[int, ...] | list[int] = (1, 12, 24, 36),
    align_corners: bool = False,
    dropout: float = 0.1,
) -> SegmentationHead:
    """The head named ``kind`` (``"fcn"``, ``"psp"`` or ``"aspp"``) on a feature with ``in_channels`` channels."""
    if kind not in HEAD_CHANNELS:
        raise ConfigurationError(f"decode_head must be one of {sorted(HEAD_CHANNELS)} or None, got {kind!r}")
    width = HEAD_CHANNELS[kind] if channels is None else int(channels)
    if kind == "fcn":
        return FCNContextHead(in_channels, num_classes, channels=width, dropout=dropout)
    if kind == "psp":
        return PSPContextHead(
            in_channels,
            num_classes,
            channels=width,
            pool_scales=tuple(pool_scales),
            align_corners=align_corners,
            dropout=dropout,
        )
    return ASPPContextHead(
        in_channels,
        num_classes,
        channels=width,
        dilations=tuple(dilations),
        align_corners=align_corners,
        dropout=dropout,
    )
