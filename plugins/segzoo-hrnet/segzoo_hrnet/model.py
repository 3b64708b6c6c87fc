"""``hrnet``: the HRNetV2 segmentation network (Sun et al. 2019, https://arxiv.org/abs/1904.04514).

Encoder: an HRNet (``hrnetv2_w18_small``, ``hrnetv2_w18``, ``hrnetv2_w48``; any segzoo encoder works). Decoder: every
encoder feature resized bilinearly to the finest one and concatenated (the paper's HRNetV2 representation), then a
1x1 conv-BN-ReLU that mixes the levels (``fuse``). Head: dropout (none by default) and a 1x1 conv to the classes at
stride 4; the logits are resized to the input bilinearly. This is mmsegmentation's ``FCNHead`` with
``input_transform="resize_concat"``, ``num_convs=1``, ``kernel_size=1``, ``concat_input=False``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from segzoo.nn import ConvBNReLU, Decoder, SegmentationHead, SegmentationModel, create_encoder


def resize_concat(features: list[torch.Tensor], *, align_corners: bool = False) -> torch.Tensor:
    """All ``features`` resized (bilinear) to the first one's size and concatenated along the channels."""
    size = features[0].shape[-2:]
    return torch.cat(
        [
            f if f.shape[-2:] == size else F.interpolate(f, size=size, mode="bilinear", align_corners=align_corners)
            for f in features
        ],
        dim=1,
    )


class HRNetV2Decoder(Decoder):
    """Concatenation of all levels at the finest resolution, mixed by one conv-BN-ReLU (``fuse``)."""

    def __init__(
        self,
        encoder_channels: list[int],
        *,
        channels: int | None = None,
        kernel_size: int = 1,
        align_corners: bool = False,
    ) -> None:
        super().__init__()
        in_channels = sum(encoder_channels)
        self.out_channels = channels or in_channels
        self.fuse = ConvBNReLU(in_channels, self.out_channels, kernel_size)
        self.align_corners = align_corners
        self.input_divisor = 1  # every level is resized to the finest: any input size works

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        return self.fuse(resize_concat(list(features), align_corners=self.align_corners))


def build_hrnet(
    *,
    encoder: str,
    num_classes: int,
    in_channels: int,
    pretrained_encoder: bool,
    channels: int | None = None,
    kernel_size: int = 1,
    dropout: float = 0.0,
    align_corners: bool = False,
) -> SegmentationModel:
    """HRNetV2. Options: ``channels`` (of the mixing conv; default: the concatenation's, 270 for W18, 720 for W48),
    ``kernel_size`` (of the mixing conv, 1), ``dropout`` (before the classifier, 0), ``align_corners`` (resizing of
    the levels and of the logits, False)."""
    enc = create_encoder(encoder, in_channels=in_channels, pretrained=pretrained_encoder)
    decoder = HRNetV2Decoder(enc.out_channels, channels=channels, kernel_size=kernel_size, align_corners=align_corners)
    model = SegmentationModel(enc, decoder, SegmentationHead(decoder.out_channels, num_classes, dropout=dropout))
    model.align_corners = align_corners
    return model
