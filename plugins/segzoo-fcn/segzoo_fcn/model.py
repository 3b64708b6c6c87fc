"""FCN (Long et al. 2015) in two forms.

``fcn``: torchvision's FCN, a dilated encoder (output stride 8) with the ``FCNHead`` on its last feature::

    encoder.body.*               <- backbone.*
    decoder.block.{0,1}.*        <- classifier.{0,1}.*   (3x3 conv C -> C/4, no bias; BN; ReLU)
    head.classifier.*            <- classifier.4.*       (Dropout(0.1) then 1x1 conv to classes)
    aux_head.block.{0,1}.*, aux_head.classifier.*  <- aux_classifier.{0,1,4}.*

mmseg's ``FCNHead`` is the same decoder with options (``num_convs``, ``concat_input``, ``head_dilation``...): its
``convs.0`` is ``decoder.block``, ``convs.{i>0}`` are ``decoder.convs.{i-1}``, ``conv_cat`` is ``decoder.fuse``
(see :mod:`segzoo_fcn.mmseg`).

``fcn8s``: the paper's skip architecture on any encoder at output stride 32: a 1x1 score layer on the stride-32 map
(``head.classifier``), upsampled 2x and added to a score layer on the stride-16 map (``decoder.score_16``), upsampled
2x and added to a score layer on the stride-8 map (``decoder.score_8``), then upsampled 8x to the input.
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
    Encoder,
    SegmentationHead,
    SegmentationModel,
    create_encoder,
)


# -- fcn (torchvision) -------------------------------------------------------------------------------------------------
class FCNDecoder(Decoder):
    """FCN head minus its dropout and classifier (which are the head's), on the deepest feature.

    torchvision's: one 3x3 conv (no bias) to a quarter of the channels, BN, ReLU (``block``). mmseg's ``FCNHead``
    adds ``num_convs - 1`` more conv-BN-ReLU (``convs``), an optional ``dilation`` of all of them, and with
    ``concat_input`` a conv-BN-ReLU (``fuse``) over the concatenated input and output.
    """

    def __init__(
        self,
        in_channels: int,
        *,
        channels: int | None = None,
        num_convs: int = 1,
        kernel_size: int = 3,
        dilation: int = 1,
        concat_input: bool = False,
    ) -> None:
        super().__init__()
        if num_convs < 1 or kernel_size < 1 or dilation < 1:
            raise ConfigurationError(
                f"fcn: num_convs, kernel_size and head_dilation must be positive, got {num_convs}, {kernel_size}, "
                f"{dilation}"
            )
        self.out_channels = channels or in_channels // 4
        self.block = ConvBNReLU(in_channels, self.out_channels, kernel_size, dilation=dilation)
        self.convs = nn.Sequential(
            *(
                ConvBNReLU(self.out_channels, self.out_channels, kernel_size, dilation=dilation)
                for _ in range(num_convs - 1)
            )
        )
        self.fuse = (
            ConvBNReLU(in_channels + self.out_channels, self.out_channels, kernel_size) if concat_input else None
        )

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = features[-1]
        out = self.convs(self.block(x))
        return out if self.fuse is None else self.fuse(torch.cat([x, out], dim=1))


def build_fcn(
    *,
    encoder: str,
    num_classes: int,
    in_channels: int,
    pretrained_encoder: bool,
    output_stride: int = 8,
    aux_head: bool = False,
    aux_index: int = -2,
    head_channels: int | None = None,
    num_convs: int = 1,
    kernel_size: int = 3,
    head_dilation: int = 1,
    concat_input: bool = False,
    aux_dilation: int = 1,
    align_corners: bool = False,
    encoder_options: dict | None = None,
) -> SegmentationModel:
    """FCN: dilated encoder -> conv-BN-ReLU head -> Dropout(0.1) -> 1x1 classifier (torchvision's by default).

    ``aux_head`` adds the same head (on C/4 of the feature's channels) on encoder feature ``aux_index`` (default: the
    one before the last, ResNet's layer3), as torchvision's ``aux_classifier``. mmseg's ``FCNHead`` variants:
    ``head_channels`` (default C/4), ``num_convs``, ``kernel_size``, ``head_dilation``, ``concat_input``,
    ``aux_dilation`` (its FCN-D6 dilates both heads by 6); ``align_corners`` for the logits resize;
    ``encoder_options`` for a segzoo-registered encoder (e.g. ``resnet50_v1c``'s ``dilations``).
    """
    enc = create_encoder(
        encoder,
        in_channels=in_channels,
        output_stride=output_stride,
        pretrained=pretrained_encoder,
        options=encoder_options,
    )
    decoder = FCNDecoder(
        enc.out_channels[-1],
        channels=head_channels,
        num_convs=num_convs,
        kernel_size=kernel_size,
        dilation=head_dilation,
        concat_input=concat_input,
    )
    head = SegmentationHead(decoder.out_channels, num_classes)
    head.dropout = nn.Dropout(0.1)  # torchvision's FCNHead uses element-wise dropout, not Dropout2d
    aux = None
    if aux_head:
        n = len(enc.out_channels)
        if not -n <= aux_index < n:
            raise ConfigurationError(f"fcn: aux_index={aux_index} is out of range for an encoder with {n} feature maps")
        index = aux_index % n
        aux = AuxiliaryHead(enc.out_channels[index], num_classes, feature_index=index, dilation=aux_dilation)
    model = SegmentationModel(enc, decoder, head, aux)
    model.align_corners = align_corners
    return model


# -- fcn8s (Long et al.) -----------------------------------------------------------------------------------------------
def bilinear_kernel_(weight: torch.Tensor) -> torch.Tensor:
    """Fill a (C, C, k, k) transposed-convolution weight with per-channel bilinear upsampling (the paper's init)."""
    size = weight.shape[-1]
    factor = (size + 1) // 2
    center = factor - 1 if size % 2 == 1 else factor - 0.5
    grid = torch.arange(size, dtype=weight.dtype, device=weight.device)
    line = 1 - (grid - center).abs() / factor
    with torch.no_grad():
        weight.zero_()
        channels = torch.arange(weight.shape[0], device=weight.device)
        weight[channels, channels] = line[:, None] * line[None, :]
    return weight


def _upsampler(num_classes: int) -> nn.ConvTranspose2d:
    up = nn.ConvTranspose2d(num_classes, num_classes, 4, stride=2, padding=1, bias=False)
    bilinear_kernel_(up.weight)
    return up


def _score(in_channels: int, num_classes: int) -> nn.Conv2d:
    score = nn.Conv2d(in_channels, num_classes, 1)
    nn.init.zeros_(score.weight)  # the paper zero-initialises the skip score layers
    nn.init.zeros_(score.bias)
    return score


class FCN8sDecoder(Decoder):
    """Fuses the stride-32 class scores with score layers on the stride-16 and stride-8 features.

    ``upsampling="bilinear"`` resizes with ``F.interpolate`` to the skip's exact size (any input size works);
    ``"learned"`` uses 4x4 stride-2 transposed convolutions initialised to bilinear upsampling (``up_32``, ``up_16``),
    as the paper, and needs inputs divisible by 32 so that the sizes line up without cropping.
    """

    def __init__(
        self, channels_16: int, channels_8: int, index_16: int, index_8: int, num_classes: int, upsampling: str
    ) -> None:
        super().__init__()
        if upsampling not in ("bilinear", "learned"):
            raise ConfigurationError(f"fcn8s: upsampling must be 'bilinear' or 'learned', got {upsampling!r}")
        self.index_16, self.index_8 = index_16, index_8
        self.upsampling = upsampling
        self.score_16 = _score(channels_16, num_classes)
        self.score_8 = _score(channels_8, num_classes)
        if upsampling == "learned":
            self.up_32 = _upsampler(num_classes)
            self.up_16 = _upsampler(num_classes)
            self.input_divisor = 32
        self.out_channels = num_classes

    def _up(self, name: str, x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        if self.upsampling == "learned":
            return getattr(self, name)(x)
        return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)

    def forward(self, features: list[torch.Tensor], score_32: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        score_16 = self.score_16(features[self.index_16])
        x = self._up("up_32", score_32, score_16) + score_16
        score_8 = self.score_8(features[self.index_8])
        return self._up("up_16", x, score_8) + score_8

    def reset_classes(self, num_classes: int) -> None:
        ref = self.score_8.weight
        self.score_16 = _score(self.score_16.in_channels, num_classes).to(device=ref.device, dtype=ref.dtype)
        self.score_8 = _score(self.score_8.in_channels, num_classes).to(device=ref.device, dtype=ref.dtype)
        if self.upsampling == "learned":
            self.up_32 = _upsampler(num_classes).to(device=ref.device, dtype=ref.dtype)
            self.up_16 = _upsampler(num_classes).to(device=ref.device, dtype=ref.dtype)
        self.out_channels = num_classes


class FCN8sModel(SegmentationModel):
    """The head's classifier scores the stride-32 map first, then the decoder fuses the skips (the base model runs
    the decoder before the head, which FCN-8s cannot express)."""

    decoder: FCN8sDecoder

    def _scores(self, x: torch.Tensor) -> torch.Tensor:
        features = self.encoder(x)
        return self.decoder(features, self.head(features[-1]))

    def forward_with_aux(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        self.check_input(x)
        return {"out": self._logits(self._scores(x), x.shape[-2:])}

    def reset_classes(self, num_classes: int) -> None:
        super().reset_classes(num_classes)
        self.decoder.reset_classes(num_classes)


def _deepest_at(enc: Encoder, stride: int, encoder: str) -> int:
    indices = [i for i, r in enumerate(enc.reductions) if r == stride]
    if not indices:
        raise ConfigurationError(
            f"fcn8s needs encoder features at strides 8, 16 and 32; {encoder!r} gives strides {enc.reductions}"
        )
    return indices[-1]


def build_fcn8s(
    *,
    encoder: str,
    num_classes: int,
    in_channels: int,
    pretrained_encoder: bool,
    upsampling: str = "bilinear",
) -> FCN8sModel:
    """FCN-8s on any encoder whose features include strides 8, 16 and 32 (built at output stride 32)."""
    enc = create_encoder(encoder, in_channels=in_channels, output_stride=32, pretrained=pretrained_encoder)
    index_32 = _deepest_at(enc, 32, encoder)
    if index_32 != len(enc.reductions) - 1:
        raise ConfigurationError(f"fcn8s: the last feature of {encoder!r} must be the stride-32 one")
    index_16, index_8 = _deepest_at(enc, 16, encoder), _deepest_at(enc, 8, encoder)
    decoder = FCN8sDecoder(
        enc.out_channels[index_16], enc.out_channels[index_8], index_16, index_8, num_classes, upsampling
    )
    head = SegmentationHead(enc.out_channels[-1], num_classes)
    return FCN8sModel(enc, decoder, head)
