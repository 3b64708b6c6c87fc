"""Heads: the last layers that map decoder features to class logits."""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from segzoo.nn.blocks import ConvBNReLU


class SegmentationHead(nn.Module):
    """Dropout then a convolution to ``num_classes`` logits (``classifier``), at the decoder's resolution.

    The model upsamples the logits to the input size, so heads stay resolution-agnostic.
    """

    def __init__(self, in_channels: int, num_classes: int, *, kernel_size: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        self.dropout: nn.Module = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.classifier = nn.Conv2d(in_channels, num_classes, kernel_size, padding=kernel_size // 2)

    @property
    def num_classes(self) -> int:
        return self.classifier.out_channels

    def reset_classes(self, num_classes: int) -> None:
        """Replace the classifier by a freshly initialised one with ``num_classes`` outputs."""
        old = self.classifier
        # torch types _ConvNd's kernel_size/padding as tuple[int, ...]; a Conv2d's are 2-tuples (or a padding string)
        kernel_size = cast("tuple[int, int]", old.kernel_size)
        padding = cast("str | tuple[int, int]", old.padding)
        self.classifier = nn.Conv2d(
            old.in_channels, num_classes, kernel_size, padding=padding, bias=old.bias is not None
        ).to(device=old.weight.device, dtype=old.weight.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(x))


class AuxiliaryHead(SegmentationHead):
    """Training-time FCN head on an intermediate encoder feature (``feature_index``), as in torchvision and PSPNet.

    ``block`` is 3x3 conv-BN-ReLU to ``hidden_channels`` (default ``in_channels // 4``; dilated by ``dilation``, as in
    mmseg's FCN-D6), then dropout and a 1x1 classifier.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        feature_index: int,
        dropout: float = 0.1,
        hidden_channels: int | None = None,
        dilation: int = 1,
    ) -> None:
        hidden = hidden_channels or in_channels // 4
        super().__init__(hidden, num_classes, dropout=0.0)
        self.feature_index = feature_index
        self.block = ConvBNReLU(in_channels, hidden, 3, dilation=dilation)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.block(x)))
