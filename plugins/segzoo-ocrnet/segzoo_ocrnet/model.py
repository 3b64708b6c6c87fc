"""``ocrnet``: Object-Contextual Representations (Yuan, Chen, Wang 2020, https://arxiv.org/abs/1909.11065).

A cascade of two heads on one encoder:

1. **soft object regions** (``aux_head``, :class:`ObjectRegionHead`): conv-BN-ReLU, dropout and a 1x1 classifier give
   coarse class logits, one map per class;
2. **object context** (``decoder``, :class:`OCRDecoder`): a 3x3 conv-BN-ReLU (``bottleneck``) gives pixel features;
   each class's region (a spatial softmax of its logits) pools them into one object feature per class (the *spatial
   gather*); every pixel attends to the object features (scaled dot-product attention over 1x1 conv-BN-ReLU
   projections: the *object attention*), and the attended context, concatenated with the pixel features, goes
   through a 1x1 conv-BN-ReLU; ``head`` classifies it.

The region head runs in inference too (the gather needs its regions), and it is the model's auxiliary head for
training: ``forward_with_aux`` returns its logits as ``"aux"``, so ``segzoo train`` supervises the regions with
``aux_weight`` (0.4, the paper's weight), and ``reset_classes`` gives both classifiers the new classes.

Inputs (``head_input``): ``"concat"`` (HRNet: every encoder level resized to the finest and concatenated, for both
heads) or ``"last"`` (dilated ResNet: the OCR head reads the last feature, the region head the one before).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from segzoo.errors import ConfigurationError
from segzoo.nn import ConvBNReLU, Decoder, SegmentationHead, SegmentationModel, create_encoder
from segzoo_hrnet.model import resize_concat

HEAD_INPUTS = ("concat", "last")


class ObjectRegionHead(SegmentationHead):
    """Soft object regions: conv-BN-ReLU (``block``), spatial dropout and a 1x1 classifier (mmseg's ``FCNHead``)."""

    def __init__(self, in_channels: int, num_classes: int, *, channels: int, kernel_size: int, dropout: float) -> None:
        super().__init__(channels, num_classes, dropout=dropout)
        self.block = ConvBNReLU(in_channels, channels, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(self.block(x))


def spatial_gather(features: torch.Tensor, regions: torch.Tensor) -> torch.Tensor:
    """One feature per region ``(N, C, K, 1)``: ``features`` averaged with each region's spatial softmax weights."""
    weights = F.softmax(regions.flatten(2), dim=2)  # (N, K, HW)
    pooled = torch.bmm(weights, features.flatten(2).transpose(1, 2))  # (N, K, C)
    return pooled.transpose(1, 2).unsqueeze(-1)


def _projection(in_channels: int, channels: int, depth: int) -> nn.Sequential:
    return nn.Sequential(*(ConvBNReLU(in_channels if i == 0 else channels, channels, 1) for i in range(depth)))


class ObjectAttention(nn.Module):
    """Pixels (queries) attend to the object features (keys and values); the context is projected back and fused
    with the pixel features by a 1x1 conv-BN-ReLU (``bottleneck``)."""

    def __init__(self, channels: int, key_channels: int) -> None:
        super().__init__()
        self.query_project = _projection(channels, key_channels, 2)
        self.key_project = _projection(channels, key_channels, 2)
        self.value_project = ConvBNReLU(channels, key_channels, 1)
        self.out_project = ConvBNReLU(key_channels, channels, 1)
        self.bottleneck = ConvBNReLU(2 * channels, channels, 1)

    def forward(self, pixels: torch.Tensor, objects: torch.Tensor) -> torch.Tensor:
        n, _, h, w = pixels.shape
        query = self.query_project(pixels).flatten(2).transpose(1, 2)  # (N, HW, Ck)
        key = self.key_project(objects).flatten(2).transpose(1, 2)  # (N, K, Ck)
        value = self.value_project(objects).flatten(2).transpose(1, 2)  # (N, K, Ck)
        context = F.scaled_dot_product_attention(query, key, value)  # softmax(q k^T / sqrt(Ck)) v
        context = context.transpose(1, 2).reshape(n, -1, h, w)
        return self.bottleneck(torch.cat([self.out_project(context), pixels], dim=1))


class OCRDecoder(Decoder):
    """The OCR head up to its classifier. The second stage of a cascade: ``forward(x, regions)`` takes its input
    (from :meth:`inputs`) and the region logits, not the encoder's feature list."""

    def __init__(
        self,
        encoder_channels: list[int],
        *,
        head_input: str = "concat",
        channels: int = 512,
        key_channels: int = 256,
        align_corners: bool = False,
    ) -> None:
        super().__init__()
        if head_input not in HEAD_INPUTS:
            raise ConfigurationError(f"head_input must be one of {list(HEAD_INPUTS)}, got {head_input!r}")
        if head_input == "last" and len(encoder_channels) < 2:
            raise ConfigurationError("head_input='last' needs an encoder with at least two feature levels")
        self.head_input = head_input
        self.align_corners = align_corners
        if head_input == "concat":
            self.in_channels = self.region_in_channels = sum(encoder_channels)
        else:
            self.in_channels, self.region_in_channels = encoder_channels[-1], encoder_channels[-2]
        self.bottleneck = ConvBNReLU(self.in_channels, channels, 3)
        self.object_context = ObjectAttention(channels, key_channels)
        self.out_channels = channels
        self.input_divisor = 1

    def inputs(self, features: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(OCR head input, region head input)."""
        if self.head_input == "concat":
            x = resize_concat(list(features), align_corners=self.align_corners)
            return x, x
        return features[-1], features[-2]

    def forward(self, x: torch.Tensor, regions: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        pixels = self.bottleneck(x)
        return self.object_context(pixels, spatial_gather(pixels, regions))


class OCRNet(SegmentationModel):
    """Encoder -> soft object regions (``aux_head``) -> object context (``decoder``) -> ``head``."""

    def _cascade(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """(object context features, region logits, encoder features)."""
        features = self.encoder(x)
        ocr_input, region_input = self.decoder.inputs(features)
        regions = self.aux_head(region_input)
        return self.decoder(ocr_input, regions), regions, features

    def decode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        decoded, _, features = self._cascade(x)
        return decoded, features

    def forward_with_aux(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"out": logits, "aux": soft object region logits}``, both at the input size."""
        self.check_input(x)
        decoded, regions, _ = self._cascade(x)
        size = x.shape[-2:]
        return {"out": self._logits(self.head(decoded), size), "aux": self._logits(regions, size)}


def build_ocrnet(
    *,
    encoder: str,
    num_classes: int,
    in_channels: int,
    pretrained_encoder: bool,
    output_stride: int = 32,
    encoder_options: dict[str, Any] | None = None,
    head_input: str = "concat",
    region_channels: int | None = None,
    region_kernel_size: int = 1,
    ocr_channels: int = 512,
    ocr_key_channels: int = 256,
    dropout: float = 0.0,
    align_corners: bool = False,
) -> OCRNet:
    """OCRNet. Defaults are the paper's HRNetV2 model; mmsegmentation's R-101-D8 one is ``output_stride=8,
    head_input="last", region_channels=256, region_kernel_size=3, dropout=0.1``.

    Options: ``output_stride`` and ``encoder_options`` (the encoder's), ``head_input`` (``"concat"`` or ``"last"``),
    ``region_channels`` (of the region head's conv; default: its input's), ``region_kernel_size`` (1),
    ``ocr_channels`` (pixel and object features, 512), ``ocr_key_channels`` (attention, 256), ``dropout`` (before
    both classifiers, 0), ``align_corners`` (resizing of levels and logits, False).
    """
    enc = create_encoder(
        encoder,
        in_channels=in_channels,
        pretrained=pretrained_encoder,
        output_stride=output_stride,
        options=encoder_options,
    )
    decoder = OCRDecoder(
        enc.out_channels,
        head_input=head_input,
        channels=ocr_channels,
        key_channels=ocr_key_channels,
        align_corners=align_corners,
    )
    regions = ObjectRegionHead(
        decoder.region_in_channels,
        num_classes,
        channels=region_channels or decoder.region_in_channels,
        kernel_size=region_kernel_size,
        dropout=dropout,
    )
    model = OCRNet(enc, decoder, SegmentationHead(ocr_channels, num_classes, dropout=dropout), regions)
    model.align_corners = align_corners
    return model
