"""PSPNet (Zhao, Shi, Qi, Wang, Jia 2017, https://arxiv.org/abs/1612.01105).

Encoder: a dilated ResNet (any timm backbone that supports ``output_stride``) at output stride 8. Decoder: the
pyramid pooling module — adaptive average pooling to 1x1, 2x2, 3x3 and 6x6 bins, a 1x1 conv-BN-ReLU per bin to
``C/4`` channels, bilinear upsampling back, concatenation with the feature map — then a 3x3 conv-BN-ReLU to 512
channels and dropout 0.1. Head: 1x1 conv to the classes; logits upsampled 8x bilinearly. Optional auxiliary FCN
head on the penultimate feature (ResNet ``layer3``), as in the paper's deep supervision.

Module names mirror segmentation_models_pytorch's ``PSPDecoder`` (``psp.blocks.{i}.pool.1.{0,1}``, ``conv.{0,1}``),
so smp checkpoints map key for key; options reproduce smp's variant (see :data:`segzoo_pspnet.smp.SMP_OPTIONS`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from segzoo.errors import ConfigurationError
from segzoo.nn import AuxiliaryHead, Decoder, SegmentationHead, SegmentationModel, create_encoder


def conv_norm_relu(in_channels: int, out_channels: int, kernel_size: int, *, norm: bool = True) -> nn.Sequential:
    """Conv (bias only without norm) -> BatchNorm or nothing -> ReLU; children 0/1/2 as in smp's Conv2dReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=not norm),
        nn.BatchNorm2d(out_channels) if norm else nn.Identity(),
        nn.ReLU(inplace=True),
    )


class PSPBlock(nn.Module):
    """One pyramid level: adaptive average pooling to ``bin x bin``, 1x1 conv-BN-ReLU, bilinear upsampling back."""

    def __init__(self, in_channels: int, out_channels: int, bin_size: int, *, norm: bool, align_corners: bool):
        super().__init__()
        self.bin_size = bin_size
        self.align_corners = align_corners
        self.pool = nn.Sequential(
            nn.AdaptiveAvgPool2d(bin_size), conv_norm_relu(in_channels, out_channels, 1, norm=norm)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        return F.interpolate(self.pool(x), size=size, mode="bilinear", align_corners=self.align_corners)


class PSPModule(nn.Module):
    def __init__(
        self,
        in_channels: int,
        bins: tuple[int, ...],
        *,
        norm_in_global_bin: bool,
        align_corners: bool,
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            PSPBlock(
                in_channels,
                in_channels // len(bins),
                b,
                norm=norm_in_global_bin or b != 1,
                align_corners=align_corners,
            )
            for b in bins
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # pooled levels first, then the feature map itself (smp's order; the paper's figure shows the map first —
        # only the order of the bottleneck conv's input channels differs)
        return torch.cat([block(x) for block in self.blocks] + [x], dim=1)


class PSPDecoder(Decoder):
    """Pyramid pooling on the deepest feature, bottleneck conv-BN-ReLU (``conv``), spatial dropout."""

    def __init__(
        self,
        encoder_channels: list[int],
        *,
        bins: tuple[int, ...] = (1, 2, 3, 6),
        out_channels: int = 512,
        bottleneck_kernel_size: int = 3,
        dropout: float = 0.1,
        norm_in_global_bin: bool = True,
        align_corners: bool = False,
    ) -> None:
        super().__init__()
        in_channels = encoder_channels[-1]
        if not bins or any(int(b) < 1 for b in bins):
            raise ConfigurationError(f"bins must be positive pooled sizes, got {bins!r}")
        if in_channels % len(bins):
            raise ConfigurationError(f"the deepest feature's {in_channels} channels do not split into {len(bins)} bins")
        self.psp = PSPModule(
            in_channels, tuple(int(b) for b in bins), norm_in_global_bin=norm_in_global_bin, align_corners=align_corners
        )
        self.conv = conv_norm_relu(2 * in_channels, out_channels, bottleneck_kernel_size)
        self.dropout = nn.Dropout2d(p=dropout)
        self.out_channels = out_channels
        self.input_divisor = 1  # adaptive pooling and resizing to the input size work for any size

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        return self.dropout(self.conv(self.psp(features[-1])))


def build_pspnet(
    *,
    encoder: str,
    num_classes: int,
    in_channels: int,
    pretrained_encoder: bool,
    output_stride: int = 8,
    bins: tuple[int, ...] | list[int] = (1, 2, 3, 6),
    psp_out_channels: int = 512,
    bottleneck_kernel_size: int = 3,
    head_kernel_size: int = 1,
    dropout: float = 0.1,
    norm_in_global_bin: bool = True,
    align_corners: bool = False,
    aux_head: bool = False,
    aux_dropout: float = 0.1,
    encoder_depth: int | None = None,
    encoder_options: dict | None = None,
) -> SegmentationModel:
    """PSPNet. Defaults follow the paper; smp's variant is ``encoder_depth=3, output_stride=32,
    bottleneck_kernel_size=1, head_kernel_size=3, dropout=0.2, norm_in_global_bin=False, align_corners=True``.

    Options: ``output_stride`` (8: dilated encoder; 16; 32), ``bins``, ``psp_out_channels`` (512),
    ``bottleneck_kernel_size`` (3), ``head_kernel_size`` (1), ``dropout`` (0.1, before the head),
    ``norm_in_global_bin`` (BatchNorm in the 1x1 bin; off = conv bias, which also trains with batch size 1),
    ``align_corners`` (bin upsampling and final logits resize), ``aux_head`` (FCN head on the penultimate feature,
    ``forward_with_aux``), ``aux_dropout``, ``encoder_depth`` (smp's: keep only the first stages),
    ``encoder_options`` (keyword arguments of a segzoo-registered encoder, e.g. ``resnet50_v1c``'s ``dilations``).
    """
    enc = create_encoder(
        encoder,
        in_channels=in_channels,
        pretrained=pretrained_encoder,
        output_stride=output_stride,
        depth=encoder_depth,
        options=encoder_options,
    )
    decoder = PSPDecoder(
        enc.out_channels,
        bins=tuple(bins),
        out_channels=psp_out_channels,
        bottleneck_kernel_size=bottleneck_kernel_size,
        dropout=dropout,
        norm_in_global_bin=norm_in_global_bin,
        align_corners=align_corners,
    )
    head = SegmentationHead(decoder.out_channels, num_classes, kernel_size=head_kernel_size)
    aux = None
    if aux_head:
        if len(enc.out_channels) < 2:
            raise ConfigurationError("aux_head needs an encoder with at least two feature levels")
        index = len(enc.out_channels) - 2
        aux = AuxiliaryHead(enc.out_channels[index], num_classes, feature_index=index, dropout=aux_dropout)
    model = SegmentationModel(enc, decoder, head, aux)
    model.align_corners = align_corners
    return model
