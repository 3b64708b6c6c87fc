"""Building blocks of segzoo models: encoder, decoder, head and the composed model."""

from segzoo.nn.blocks import ConvBNReLU
from segzoo.nn.decoder import Decoder
from segzoo.nn.encoder import Encoder, TimmEncoder, create_encoder
from segzoo.nn.heads import AuxiliaryHead, SegmentationHead
from segzoo.nn.model import SegmentationModel

__all__ = [
    "AuxiliaryHead",
    "ConvBNReLU",
    "Decoder",
    "Encoder",
    "SegmentationHead",
    "SegmentationModel",
    "TimmEncoder",
    "create_encoder",
]
