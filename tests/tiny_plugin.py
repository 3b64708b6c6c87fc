"""A minimal architecture plugin used by the core tests (registered directly, like llm's tests do)."""

import torch

import segzoo
from segzoo.nn import ConvBNReLU, Decoder, SegmentationHead, SegmentationModel, create_encoder

SEGZOO_PLUGIN_API = 1


class LastFeatureDecoder(Decoder):
    def __init__(self, in_channels: int, out_channels: int = 32, *, divisor: int = 1) -> None:
        super().__init__()
        self.block = ConvBNReLU(in_channels, out_channels)
        self.out_channels = out_channels
        self.input_divisor = divisor

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        return self.block(features[-1])


def build_tiny(*, encoder: str, num_classes: int, in_channels: int, pretrained_encoder: bool, divisor: int = 1):
    enc = create_encoder(encoder, in_channels=in_channels, pretrained=pretrained_encoder)
    dec = LastFeatureDecoder(enc.out_channels[-1], divisor=divisor)
    return SegmentationModel(enc, dec, SegmentationHead(dec.out_channels, num_classes))


@segzoo.hookimpl
def register_architectures(register):
    register("tiny", build_tiny, default_encoder="resnet18", description="test architecture")
