"""UPerNet (Xiao et al. 2018) as in transformers' ``UperNetForSemanticSegmentation`` / mmsegmentation's ``UPerHead``.

Decoder: a pyramid pooling module (PPM, scales 1/2/3/6) on the deepest map, lateral 1x1 convs on the others, a
top-down FPN path, 3x3 FPN convs, all levels upsampled to the finest and fused by a 3x3 conv (every conv is
conv-BN-ReLU, every resize bilinear with ``align_corners=False``). Head: dropout + 1x1 classifier at stride 4.
Auxiliary head (``aux_head=True``): transformers' ``UperNetFCNHead`` on the stride-16 map (3x3 conv-BN-ReLU to
``aux_channels``, 1x1 classifier).

ConvNeXt encoders: timm's ``convnext_*`` is numerically the same network as transformers' ``ConvNextBackbone`` (same
LayerNorm placement and eps 1e-6, layer scale, LayerNorm + 2x2/2 conv downsampling), except that the transformers /
mmseg backbone normalises every output map with one more LayerNorm (``hidden_states_norms``). ``encoder_norms=True``
adds those (``encoder.norms.{i}``) on top of the timm network (``encoder.body.*``); it is the default for
``convnext*`` encoders.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from segzoo.errors import ConfigurationError
from segzoo.nn import (
    AuxiliaryHead,
    ConvBNReLU,
    Decoder,
    SegmentationHead,
    SegmentationModel,
    TimmEncoder,
    create_encoder,
)

from segzoo_transformers.segformer import pyramid_indices


class NormedTimmEncoder(TimmEncoder):
    """A timm ``features_only`` backbone whose output maps each pass through a channels-first LayerNorm (eps 1e-6),
    like transformers' ``ConvNextBackbone.hidden_states_norms`` and mmseg's ConvNeXt ``norm{i}``."""

    def __init__(self, name: str, *, eps: float = 1e-6, **kwargs) -> None:
        super().__init__(name, **kwargs)
        from timm.layers import LayerNorm2d

        self.norms = nn.ModuleList(LayerNorm2d(c, eps=eps) for c in self.out_channels)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [norm(f) for f, norm in zip(self.body(x), self.norms)]


class PyramidPooling(nn.Module):
    """PSPNet's PPM: adaptive average pools, 1x1 conv-BN-ReLU each (``ppm.{i}.1``), upsampled back."""

    def __init__(self, in_channels: int, channels: int, scales: tuple[int, ...], align_corners: bool = False) -> None:
        super().__init__()
        self.align_corners = align_corners
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.AdaptiveAvgPool2d(s), ConvBNReLU(in_channels, channels, 1)) for s in scales
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        size = x.shape[-2:]
        return [
            F.interpolate(block(x), size=size, mode="bilinear", align_corners=self.align_corners)
            for block in self.blocks
        ]


class UperNetDecoder(Decoder):
    input_divisor = 1  # every resize is to a computed size

    def __init__(
        self,
        in_channels: list[int],
        feature_indices: list[int],
        channels: int = 512,
        pool_scales: tuple[int, ...] = (1, 2, 3, 6),
        align_corners: bool = False,
    ) -> None:
        super().__init__()
        self.feature_indices = list(feature_indices)
        self.align_corners = align_corners
        self.ppm = PyramidPooling(in_channels[-1], channels, tuple(pool_scales), align_corners)
        self.bottleneck = ConvBNReLU(in_channels[-1] + len(pool_scales) * channels, channels, 3)
        self.lateral_convs = nn.ModuleList(ConvBNReLU(c, channels, 1) for c in in_channels[:-1])
        self.fpn_convs = nn.ModuleList(ConvBNReLU(channels, channels, 3) for _ in in_channels[:-1])
        self.fpn_bottleneck = ConvBNReLU(len(in_channels) * channels, channels, 3)
        self.out_channels = channels

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        maps = [features[i] for i in self.feature_indices]
        laterals = [conv(x) for conv, x in zip(self.lateral_convs, maps)]
        top = maps[-1]
        laterals.append(self.bottleneck(torch.cat([top, *self.ppm(top)], dim=1)))
        for i in range(len(laterals) - 1, 0, -1):
            laterals[i - 1] = laterals[i - 1] + F.interpolate(
                laterals[i], size=laterals[i - 1].shape[-2:], mode="bilinear", align_corners=self.align_corners
            )
        outs = [conv(x) for conv, x in zip(self.fpn_convs, laterals)] + [laterals[-1]]
        size = outs[0].shape[-2:]
        outs = [outs[0]] + [
            F.interpolate(x, size=size, mode="bilinear", align_corners=self.align_corners) for x in outs[1:]
        ]
        return self.fpn_bottleneck(torch.cat(outs, dim=1))


def _is_convnext(encoder: str) -> bool:
    return encoder.split(".")[0].startswith("convnext")


def build_encoder(encoder: str, *, in_channels: int, pretrained: bool, encoder_norms: bool | None):
    from segzoo import registry

    norms = _is_convnext(encoder) if encoder_norms is None else encoder_norms
    if not norms:
        return create_encoder(encoder, in_channels=in_channels, pretrained=pretrained)
    if registry.resolve_encoder(encoder) is not None:  # unknown names raise "did you mean" here
        raise ConfigurationError(
            f"encoder_norms=True applies to timm encoders; {encoder!r} is a plugin-registered encoder. "
            "Pass encoder_norms=False."
        )
    return NormedTimmEncoder(encoder, in_channels=in_channels, pretrained=pretrained)


def build_upernet(
    *,
    encoder: str,
    num_classes: int,
    in_channels: int,
    pretrained_encoder: bool,
    channels: int = 512,
    pool_scales: tuple[int, ...] = (1, 2, 3, 6),
    dropout: float = 0.1,
    aux_head: bool = False,
    aux_channels: int = 256,
    encoder_norms: bool | None = None,
    align_corners: bool = False,
) -> SegmentationModel:
    """UPerNet; ``align_corners`` sets every bilinear resize (PPM, top-down path, fusion, logits), False in
    transformers and most mmseg configs, True in mmseg's 769x769 Cityscapes ones."""
    enc = build_encoder(encoder, in_channels=in_channels, pretrained=pretrained_encoder, encoder_norms=encoder_norms)
    indices = pyramid_indices(enc)
    dec = UperNetDecoder([enc.out_channels[i] for i in indices], indices, channels, tuple(pool_scales), align_corners)
    head = SegmentationHead(channels, num_classes, dropout=dropout)
    aux = None
    if aux_head:
        index = indices[-2]  # the second-deepest map (stride 16): transformers' in_index=2 of 4 outputs
        aux = AuxiliaryHead(enc.out_channels[index], num_classes, feature_index=index, hidden_channels=aux_channels)
    model = SegmentationModel(enc, dec, head, aux)
    model.align_corners = align_corners
    return model
