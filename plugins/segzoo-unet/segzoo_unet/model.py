"""Builders registered by the plugin: ``unet`` and ``unet-original``."""

from __future__ import annotations

from segzoo.nn import SegmentationHead, SegmentationModel, create_encoder
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


def build_unet_original(
    *,
    encoder: str,
    num_classes: int,
    in_channels: int,
    pretrained_encoder: bool,
    batchnorm: bool | None = None,
    dropout: float = 0.0,
) -> SegmentationModel:
    """The original U-Net (Ronneberger et al. 2015) with padded convolutions (output size = input size).

    Options: ``batchnorm`` in the expanding path (default: as the encoder — ``unet-classic`` has none,
    ``unet-classic-bn`` has it), ``dropout`` on the deepest feature (the paper's drop-out at the end of the
    contracting path; 0 by default).
    """
    from segzoo.nn import create_encoder

    enc = create_encoder(encoder, in_channels=in_channels, pretrained=pretrained_encoder)
    if batchnorm is None:
        batchnorm = bool(getattr(enc, "batchnorm", False))
    decoder = UNetOriginalDecoder(enc.out_channels, enc.reductions, batchnorm=batchnorm, dropout=dropout)
    head = SegmentationHead(decoder.out_channels, num_classes, kernel_size=1)
    return SegmentationModel(enc, decoder, head)
