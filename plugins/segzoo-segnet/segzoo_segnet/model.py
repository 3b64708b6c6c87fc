"""SegNet's decoder and model (Badrinarayanan et al., https://arxiv.org/abs/1511.00561)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from segzoo.errors import ConfigurationError
from segzoo.nn import ConvBNReLU, Decoder, SegmentationHead, SegmentationModel, create_encoder


def _conv_bn(cin: int, cout: int, kernel_size: int, relu: bool) -> nn.Sequential:
    if relu:
        return ConvBNReLU(cin, cout, kernel_size)
    return nn.Sequential(nn.Conv2d(cin, cout, kernel_size, padding=kernel_size // 2, bias=False), nn.BatchNorm2d(cout))


class SegNetDecoder(Decoder):
    """The encoder mirrored: per stage (deepest first) max-unpooling with the encoder's indices, then 3x3
    conv-BN-ReLU layers that mirror the encoder stage's convs.

    A stage whose encoder convs produce ``[c1, ..., ck]`` from ``c_in`` gets decoder convs ``ck -> c(k-1) -> ... ->
    c1 -> c_in``; the decoder of the first stage stops at ``c1`` (64 channels, full resolution) and the head's 3x3
    classifier is the last of the mirrored layers (SegNet's ``conv1_1_D``). For VGG16-BN that is 12 conv-BN-ReLU
    layers plus the classifier: 13, as in the encoder. ``stages.{i}`` is the decoder of encoder stage ``n-1-i``.

    Options (defaults: SegNet's VGG16 decoder): ``kernel_size`` of the convs (3; SegNet-Basic: 7), ``relu`` after
    each BatchNorm (True; SegNet-Basic's decoder has none: conv-BN only), ``first_stage_conv``: the decoder of the
    first stage also gets a ``c1 -> c1`` conv when that stage has a single conv (False; SegNet-Basic's
    ``conv_decode1``, followed by a 1x1 classifier, instead of the classifier being the mirrored layer).
    """

    def __init__(
        self,
        stage_channels: list[list[int]],
        *,
        kernel_size: int = 3,
        relu: bool = True,
        first_stage_conv: bool = False,
    ) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ConfigurationError(f"SegNetDecoder: kernel_size must be a positive odd integer, got {kernel_size!r}")
        stages = []
        for s in reversed(range(len(stage_channels))):
            chans = stage_channels[s]
            outs = list(reversed(chans[:-1])) + ([stage_channels[s - 1][-1]] if s > 0 else [])
            if s == 0 and first_stage_conv and not outs:
                outs = [chans[0]]
            layers, cin = [], chans[-1]
            for cout in outs:
                layers.append(_conv_bn(cin, cout, kernel_size, relu))
                cin = cout
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)
        self.out_channels = (
            stage_channels[0][0] if len(stage_channels[0]) > 1 or first_stage_conv else stage_channels[0][-1]
        )
        self.input_divisor = 1  # unpooling restores the exact pre-pooling sizes, odd ones included
        for m in self.modules():
            if isinstance(m, nn.Conv2d):  # the paper initialises with He et al.'s method
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")

    def forward(
        self,
        features: list[torch.Tensor],
        indices: list[torch.Tensor] | None = None,
        sizes: list[torch.Size] | None = None,
    ) -> torch.Tensor:
        if indices is None or sizes is None:
            raise ValueError("SegNetDecoder needs the encoder's pooling indices: use encoder.forward_with_indices")
        x = features[-1]
        n = len(self.stages)
        for i, stage in enumerate(self.stages):
            s = n - 1 - i
            x = F.max_unpool2d(x, indices[s], kernel_size=2, stride=2, output_size=sizes[s])
            x = stage(x)
        return x


class SegNetModel(SegmentationModel):
    """:class:`segzoo.nn.SegmentationModel` that passes the encoder's pooling indices to the decoder."""

    discontinuous = True  # unpooling writes each value at its window's argmax: a near tie can move it

    def decode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        features, indices, sizes = self.encoder.forward_with_indices(x)
        return self.decoder(features, indices, sizes), features


def build_segnet(
    *,
    encoder: str,
    num_classes: int,
    in_channels: int,
    pretrained_encoder: bool,
    head_kernel_size: int | None = None,
) -> SegNetModel:
    """SegNet: VGG-BN encoder with pooling indices, mirrored decoder, 3x3 classifier at full resolution.

    ``encoder`` must provide pooling indices (``vgg16_bn_segnet``, the paper's; also ``vgg11/13/19_bn_segnet``, and
    ``segnet_basic``, the paper's SegNet-Basic). The decoder mirrors the encoder's conv kernel size and follows its
    design (``decoder_relu``, ``decoder_first_stage_conv``). ``head_kernel_size``: default the encoder's: 3 for the
    VGG encoders as in SegNet's released Caffe model (its last decoder conv outputs the classes), 1 for
    ``segnet_basic`` (its ``conv_classifier``).
    """
    enc = create_encoder(encoder, in_channels=in_channels, pretrained=pretrained_encoder)
    if not hasattr(enc, "forward_with_indices") or not hasattr(enc, "stage_channels"):
        raise ConfigurationError(
            f"segnet needs an encoder that returns max-pooling indices (e.g. 'vgg16_bn_segnet'); {encoder!r} does "
            "not. For a timm backbone use 'unet' or 'fpn' instead."
        )
    decoder = SegNetDecoder(
        enc.stage_channels,
        kernel_size=getattr(enc, "kernel_size", 3),
        relu=getattr(enc, "decoder_relu", True),
        first_stage_conv=getattr(enc, "decoder_first_stage_conv", False),
    )
    if head_kernel_size is None:
        head_kernel_size = getattr(enc, "head_kernel_size", 3)
    head = SegmentationHead(decoder.out_channels, num_classes, kernel_size=head_kernel_size)
    return SegNetModel(enc, decoder, head)
