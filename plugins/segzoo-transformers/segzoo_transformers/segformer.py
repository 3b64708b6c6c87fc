"""SegFormer (Xie et al. 2021): a hierarchical encoder and an all-MLP decode head.

The decode head is generic: it needs a pyramid of feature maps, nothing specific to MiT. It takes the encoder's maps at
stride >= 4 (all four for MiT; stride-2 maps of timm CNNs are left out), projects each to ``decoder_channels`` with a
linear layer, upsamples them to the finest one, concatenates them coarsest first (as transformers and NVlabs do),
fuses with 1x1 conv + BN + ReLU, and the head applies dropout and a 1x1 classifier. Logits come out at the finest
used stride (4) and :class:`segzoo.nn.SegmentationModel` upsamples them bilinearly (``align_corners=False``), which is
what transformers' ``post_process_semantic_segmentation`` and loss do with ``SegformerForSemanticSegmentation``'s
stride-4 logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from segzoo.errors import ConfigurationError
from segzoo.nn import ConvBNReLU, Decoder, Encoder, SegmentationHead, SegmentationModel, create_encoder

from segzoo_transformers.mit import MIT_CONFIGS


def pyramid_indices(encoder: Encoder, *, min_reduction: int = 4, levels: int = 4) -> list[int]:
    """Indices of the (at most ``levels``) deepest encoder maps whose stride is at least ``min_reduction``."""
    indices = [i for i, r in enumerate(encoder.reductions) if r >= min_reduction][-levels:]
    if len(indices) < 2:
        raise ConfigurationError(
            f"encoder gives {len(encoder.reductions)} feature maps at strides {encoder.reductions}; this decoder "
            "needs a feature pyramid (at least two maps at stride >= 4), e.g. a mit_b* or a timm CNN/hierarchical "
            "transformer backbone"
        )
    return indices


class SegformerMLP(nn.Module):
    """Per-stage linear projection applied to the flattened map (``proj`` like transformers' ``SegformerMLP``)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.proj = nn.Linear(in_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        x = self.proj(x.flatten(2).transpose(1, 2))
        return x.transpose(1, 2).reshape(b, -1, h, w)


class SegformerDecoder(Decoder):
    """All-MLP decoder; ``forward`` returns the fused map (``decoder_channels``) at the finest used stride.

    ``projection="conv-bn-relu"`` projects each map with a 1x1 conv-BN-ReLU (``linear_projections.{i}.{0,1}``), as
    mmsegmentation's ``SegformerHead`` does, instead of the paper's linear layer.
    """

    input_divisor = 1  # every resize is to a computed size: any input size works

    def __init__(
        self, in_channels: list[int], feature_indices: list[int], channels: int = 256, *, projection: str = "linear"
    ) -> None:
        super().__init__()
        if projection not in PROJECTIONS:
            raise ConfigurationError(f"projection must be one of {sorted(PROJECTIONS)}, got {projection!r}")
        self.feature_indices = list(feature_indices)
        self.linear_projections = nn.ModuleList(PROJECTIONS[projection](c, channels) for c in in_channels)
        self.fuse = ConvBNReLU(channels * len(in_channels), channels, 1)
        self.out_channels = channels

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        maps = [features[i] for i in self.feature_indices]
        size = maps[0].shape[-2:]
        projected = []
        for x, proj in zip(maps, self.linear_projections):
            x = proj(x)
            if x.shape[-2:] != size:
                x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
            projected.append(x)
        return self.fuse(torch.cat(projected[::-1], dim=1))


def _conv_bn_relu(in_channels: int, out_channels: int) -> nn.Module:
    return ConvBNReLU(in_channels, out_channels, 1)


#: how the decoder projects each encoder map to ``decoder_channels``
PROJECTIONS = {"linear": SegformerMLP, "conv-bn-relu": _conv_bn_relu}


def default_decoder_channels(encoder: str) -> int:
    cfg = MIT_CONFIGS.get(encoder)
    return cfg.decoder_hidden_size if cfg is not None else 256


def build_segformer(
    *,
    encoder: str,
    num_classes: int,
    in_channels: int,
    pretrained_encoder: bool,
    decoder_channels: int | None = None,
    dropout: float = 0.1,
    projection: str = "linear",
    layer_norm_eps: float | None = None,
) -> SegmentationModel:
    """SegFormer on any pyramid encoder (default MiT).

    Options: ``decoder_channels`` (default: the variant's, 256 for B0/B1 and 768 for B2-B5, 256 for other
    encoders), ``dropout`` before the classifier, ``projection`` (``"linear"``: the paper and transformers;
    ``"conv-bn-relu"``: mmsegmentation's head), ``layer_norm_eps`` (every encoder LayerNorm's eps; transformers uses
    PyTorch's 1e-5, mmsegmentation and NVlabs 1e-6).
    """
    enc = create_encoder(encoder, in_channels=in_channels, pretrained=pretrained_encoder)
    if layer_norm_eps is not None:
        for module in enc.modules():
            if isinstance(module, nn.LayerNorm):
                module.eps = float(layer_norm_eps)
    indices = pyramid_indices(enc)
    channels = decoder_channels or default_decoder_channels(encoder)
    dec = SegformerDecoder([enc.out_channels[i] for i in indices], indices, channels, projection=projection)
    head = SegmentationHead(channels, num_classes, dropout=dropout)
    return SegmentationModel(enc, dec, head)
