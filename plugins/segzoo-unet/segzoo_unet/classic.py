"""The original U-Net (Ronneberger, Fischer, Brox 2015, https://arxiv.org/abs/1505.04597).

Contracting path (registered as the encoder ``unet-classic``; ``unet-classic-bn`` adds BatchNorm after each conv):
five levels of two 3x3 conv + ReLU with 64, 128, 256, 512, 1024 channels, separated by 2x2 max pooling (stride 2).
Expanding path (:class:`UNetOriginalDecoder`): per level a 2x2 up-convolution (transposed conv, stride 2) that halves
the channels, concatenation with the contracting-path feature of the same resolution, two 3x3 conv + ReLU. The head
is a 1x1 conv to the classes.

Difference from the paper: the convolutions are padded (``padding=1``), so the output has the input's size and no
cropping is needed. The paper used unpadded ("valid") convolutions — a 572x572 tile gives a 388x388 map — and the
overlap-tile strategy (mirror-padding the image) to segment large images seamlessly.
"""

from __future__ import annotations

import torch
from torch import nn

from segzoo.errors import ConfigurationError
from segzoo.nn import ConvBNReLU, Decoder, Encoder

CLASSIC_CHANNELS = (64, 128, 256, 512, 1024)


def _init_he(module: nn.Module) -> None:
    """The paper's initialisation: Gaussian with std sqrt(2/N), N = inputs of one neuron (He et al.)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class DoubleConv(nn.Module):
    """Two (3x3 conv, padding 1 -> [BatchNorm] -> ReLU)."""

    def __init__(self, in_channels: int, out_channels: int, *, batchnorm: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=not batchnorm)
        self.norm1 = nn.BatchNorm2d(out_channels) if batchnorm else nn.Identity()
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=not batchnorm)
        self.norm2 = nn.BatchNorm2d(out_channels) if batchnorm else nn.Identity()
        self.act2 = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.norm1(self.conv1(x)))
        return self.act2(self.norm2(self.conv2(x)))


class UNetClassicEncoder(Encoder):
    """The contracting path; features (finest first) at strides 1, 2, 4, 8, 16 with 64..1024 channels.

    ``stages.0`` is a :class:`DoubleConv` on the image, ``stages.i`` (i >= 1) is ``Sequential(MaxPool2d(2),
    DoubleConv)``.
    """

    def __init__(
        self, in_channels: int = 3, *, channels: tuple[int, ...] = CLASSIC_CHANNELS, batchnorm: bool = False
    ) -> None:
        super().__init__()
        self.batchnorm = batchnorm
        stages: list[nn.Module] = [DoubleConv(in_channels, channels[0], batchnorm=batchnorm)]
        for cin, cout in zip(channels[:-1], channels[1:]):
            stages.append(nn.Sequential(nn.MaxPool2d(2, 2), DoubleConv(cin, cout, batchnorm=batchnorm)))
        self.stages = nn.ModuleList(stages)
        self.out_channels = list(channels)
        self.reductions = [2**i for i in range(len(channels))]
        _init_he(self)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features


def build_classic_encoder(
    *, in_channels: int, output_stride: int, pretrained: bool, batchnorm: bool = False, base_channels: int = 64
):
    """``base_channels`` is the first level's width, doubled at every level (64: the paper's 64..1024). A narrower
    U-Net (16 or 32) is the usual choice for small datasets such as DRIVE, at 1/16 or 1/4 of the computation."""
    if not isinstance(base_channels, int) or base_channels < 1:
        raise ConfigurationError(f"base_channels must be a positive integer, got {base_channels!r}")
    if pretrained:
        raise ConfigurationError(
            "the classic U-Net contracting path has no pretrained weights; use pretrained_encoder=False, or the "
            "'unet' architecture with an ImageNet encoder"
        )
    if output_stride < 16:
        raise ConfigurationError(
            f"unet-classic has no dilated variant (its deepest stride is 16); output_stride={output_stride} "
            "cannot be honoured"
        )
    channels = tuple(base_channels * 2**i for i in range(len(CLASSIC_CHANNELS)))
    return UNetClassicEncoder(in_channels, channels=channels, batchnorm=batchnorm)


def build_classic_bn_encoder(*, in_channels: int, output_stride: int, pretrained: bool, base_channels: int = 64):
    """``unet-classic-bn``: the classic contracting path with BatchNorm after every conv."""
    return build_classic_encoder(
        in_channels=in_channels,
        output_stride=output_stride,
        pretrained=pretrained,
        batchnorm=True,
        base_channels=base_channels,
    )


class UNetOriginalDecoder(Decoder):
    """The expanding path, for any encoder whose consecutive features differ by a stride factor of exactly 2.

    For each level from the deepest: ``ups.{i}`` = ConvTranspose2d(c_deep, c_skip, 2, stride=2) (the paper's
    up-convolution, halving 1024 -> 512 etc. on the classic encoder), concatenation with the encoder feature,
    ``blocks.{i}`` = :class:`DoubleConv` (2*c_skip -> c_skip). The output has the finest feature's stride and
    channels (stride 1, 64 channels on ``unet-classic``; the model upsamples logits bilinearly otherwise).
    ``dropout`` is applied to the deepest feature (the paper's "drop-out layers at the end of the contracting path").
    ``upsampling="bilinear"`` replaces each up-convolution by 2x bilinear upsampling then a 1x1 conv-BN-ReLU
    (``ups.{i}.1.{0,1}``), the expanding path of mmsegmentation's ``UNet`` backbone (its ``InterpConv``).
    """

    def __init__(
        self,
        encoder_channels: list[int],
        encoder_reductions: list[int],
        *,
        batchnorm: bool = False,
        dropout: float = 0.0,
        upsampling: str = "transposed",
    ) -> None:
        super().__init__()
        if len(encoder_channels) < 2:
            raise ConfigurationError("the U-Net expanding path needs an encoder with at least two feature levels")
        for a, b in zip(encoder_reductions[:-1], encoder_reductions[1:]):
            if b != 2 * a:
                raise ConfigurationError(
                    f"unet-original needs encoder strides that double at every level, got {encoder_reductions}; "
                    "use the 'unet' architecture for this encoder"
                )
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        deep = list(reversed(encoder_channels))
        if upsampling not in ("transposed", "bilinear"):
            raise ConfigurationError(f"upsampling must be 'transposed' or 'bilinear', got {upsampling!r}")
        up = _up_convolution if upsampling == "transposed" else _interp_convolution
        self.ups = nn.ModuleList(up(cin, cskip) for cin, cskip in zip(deep[:-1], deep[1:]))
        self.blocks = nn.ModuleList(DoubleConv(2 * cskip, cskip, batchnorm=batchnorm) for cskip in deep[1:])
        self.out_channels = encoder_channels[0]
        self.input_divisor = encoder_reductions[-1]
        self.output_reduction = encoder_reductions[0]
        _init_he(self)

    def stages(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        """The deepest feature then each level's output, coarsest first (mmseg's UNet returns the same list)."""
        x = self.dropout(features[-1])
        outputs = [x]
        for up, block, skip in zip(self.ups, self.blocks, reversed(features[:-1])):
            x = block(torch.cat([skip, up(x)], dim=1))
            outputs.append(x)
        return outputs

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        return self.stages(features)[-1]


def _up_convolution(in_channels: int, out_channels: int) -> nn.Module:
    return nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2)


def _interp_convolution(in_channels: int, out_channels: int) -> nn.Module:
    return nn.Sequential(
        nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), ConvBNReLU(in_channels, out_channels, 1)
    )
