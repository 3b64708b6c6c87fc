"""Builders registered by the plugin: ``unet`` and ``unet-original``."""

from __future__ import annotations

import torch

from segzoo.nn import AuxiliaryHead, SegmentationHead, SegmentationModel, create_encoder
from segzoo_unet.classic import UNetOriginalDecoder
from segzoo_unet.decoder import UnetDecoder


def build_unet(
    *,
    encoder: str,
    num_classes: int,
    in_channels: int,
    pretrained_encoder: bool,
    decoder_channels: tuple[int, ...] | list[int] | None = None,
    use_batchnorm: bool = True,
    attention: str | None = None,
    interpolation: str = "nearest",
    encoder_depth: int | None = None,
) -> SegmentationModel:
    """Encoder-based U-Net as in segmentation_models_pytorch (``smp.Unet``).

    Options: ``decoder_channels`` (default ``(256, 128, 64, 32, 16)``, the last ``n`` entries for an encoder whose
    deepest stride is ``2**n``), ``use_batchnorm`` (decoder convs), ``attention`` (``None`` or ``"scse"``),
    ``interpolation`` (decoder upsampling mode, ``"nearest"``), ``encoder_depth`` (smp's: keep only the first
    ``encoder_depth`` encoder stages; ``None`` = all). The head is a 3x3 conv at full resolution.
    """
    enc = create_encoder(encoder, in_channels=in_channels, pretrained=pretrained_encoder, depth=encoder_depth)
    decoder = UnetDecoder(
        enc.out_channels,
        enc.reductions,
        decoder_channels,
        use_batchnorm=use_batchnorm,
        attention=attention,
        interpolation=interpolation,
    )
    head = SegmentationHead(decoder.out_channels, num_classes, kernel_size=3)
    return SegmentationModel(enc, decoder, head)


class UNetOriginalModel(SegmentationModel):
    """``unet-original``: the auxiliary head reads an expanding-path level (``aux_head.feature_index`` indexes
    :meth:`UNetOriginalDecoder.stages`), as mmsegmentation's U-Net auxiliary head does."""

    decoder: UNetOriginalDecoder

    def forward_with_aux(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.aux_head is None:
            return super().forward_with_aux(x)
        self.check_input(x)
        stages = self.decoder.stages(self.encoder(x))
        size = x.shape[-2:]
        return {
            "out": self._logits(self.head(stages[-1]), size),
            "aux": self._logits(self.aux_head(stages[self.aux_head.feature_index]), size),
        }


def build_unet_original(
    *,
    encoder: str,
    num_classes: int,
    in_channels: int,
    pretrained_encoder: bool,
    batchnorm: bool | None = None,
    dropout: float = 0.0,
    upsampling: str = "transposed",
    decode_head: str | None = None,
    head_channels: int | None = None,
    pool_scales: tuple[int, ...] | list[int] = (1, 2, 3, 6),
    dilations: tuple[int, ...] | list[int] = (1, 12, 24, 36),
    head_dropout: float = 0.1,
    align_corners: bool = False,
    aux_head: bool = False,
    encoder_options: dict | None = None,
) -> SegmentationModel:
    """The original U-Net (Ronneberger et al. 2015) with padded convolutions (output size = input size).

    Options: ``batchnorm`` in the expanding path (default: as the encoder — ``unet-classic`` has none,
    ``unet-classic-bn`` has it), ``dropout`` on the deepest feature (the paper's drop-out at the end of the
    contracting path; 0 by default), ``upsampling`` (``"transposed"``: the paper's 2x2 up-convolutions;
    ``"bilinear"``: bilinear 2x then 1x1 conv-BN-ReLU, as mmsegmentation's U-Net).

    mmsegmentation's heads on the last level instead of the paper's 1x1 conv: ``decode_head`` ``"fcn"``, ``"psp"``
    or ``"aspp"`` (see :mod:`segzoo_unet.heads`) with ``head_channels`` (64 for fcn, 16 otherwise), ``pool_scales``
    (psp), ``dilations`` (aspp), ``head_dropout`` and ``align_corners`` (pooled-branch and logits resizing);
    ``aux_head`` adds mmseg's FCN auxiliary head (64 channels) on the second-finest level, for fine-tuning.
    ``encoder_options`` go to a registered encoder's builder, e.g. ``{"base_channels": 16}`` for a narrower
    ``unet-classic(-bn)``.
    """
    from segzoo_unet.heads import build_context_head

    enc = create_encoder(encoder, in_channels=in_channels, pretrained=pretrained_encoder, options=encoder_options)
    if batchnorm is None:
        batchnorm = bool(getattr(enc, "batchnorm", False))
    decoder = UNetOriginalDecoder(
        enc.out_channels, enc.reductions, batchnorm=batchnorm, dropout=dropout, upsampling=upsampling
    )
    if decode_head is None:
        head = SegmentationHead(decoder.out_channels, num_classes, kernel_size=1)
    else:
        head = build_context_head(
            decode_head,
            decoder.out_channels,
            num_classes,
            channels=head_channels,
            pool_scales=pool_scales,
            dilations=dilations,
            align_corners=align_corners,
            dropout=head_dropout,
        )
    aux = None
    if aux_head:
        levels = len(enc.out_channels)  # stages(): the deepest feature, then one output per level
        aux = AuxiliaryHead(enc.out_channels[1], num_classes, feature_index=levels - 2, hidden_channels=64)
    model = UNetOriginalModel(enc, decoder, head, aux)
    model.align_corners = align_corners
    return model
