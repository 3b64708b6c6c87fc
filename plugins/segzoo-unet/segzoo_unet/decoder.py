"""The encoder-based U-Net decoder, module for module the same as segmentation_models_pytorch's ``UnetDecoder``.

State-dict keys (``blocks.{i}.conv1.{0,1}``, ``blocks.{i}.attention1.attention.cSE/sSE``, ...) equal smp's, so smp
checkpoints map onto it key for key.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from segzoo.errors import ConfigurationError
from segzoo.nn import Decoder

DEFAULT_DECODER_CHANNELS = (256, 128, 64, 32, 16)


class Conv2dReLU(nn.Sequential):
    """3x3 conv -> BatchNorm (or nothing, then the conv has a bias) -> ReLU; children 0/1/2 as in smp."""

    def __init__(self, in_channels: int, out_channels: int, *, use_batchnorm: bool = True) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=not use_batchnorm),
            nn.BatchNorm2d(out_channels) if use_batchnorm else nn.Identity(),
            nn.ReLU(inplace=True),
        )


class SCSEModule(nn.Module):
    """Concurrent spatial and channel squeeze & excitation (Roy et al. 2018, https://arxiv.org/abs/1808.08127)."""

    def __init__(self, in_channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(in_channels // reduction, 1)
        self.cSE = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(in_channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, in_channels, 1),
            nn.Sigmoid(),
        )
        self.sSE = nn.Sequential(nn.Conv2d(in_channels, 1, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.cSE(x) + x * self.sSE(x)


class Attention(nn.Module):
    def __init__(self, kind: str | None, in_channels: int) -> None:
        super().__init__()
        if kind is None:
            self.attention: nn.Module = nn.Identity()
        elif kind == "scse":
            self.attention = SCSEModule(in_channels)
        else:
            raise ConfigurationError(f"attention must be None or 'scse', got {kind!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attention(x)


class UnetDecoderBlock(nn.Module):
    """Upsample, concatenate the skip (if any), attention, two 3x3 conv-BN-ReLU, attention."""

    def __init__(
        self,
        in_channels: int,
        skip_channels: int,
        out_channels: int,
        *,
        use_batchnorm: bool = True,
        attention: str | None = None,
        interpolation: str = "nearest",
    ) -> None:
        super().__init__()
        self.interpolation = interpolation
        self.conv1 = Conv2dReLU(in_channels + skip_channels, out_channels, use_batchnorm=use_batchnorm)
        self.attention1 = Attention(attention, in_channels + skip_channels)
        self.conv2 = Conv2dReLU(out_channels, out_channels, use_batchnorm=use_batchnorm)
        self.attention2 = Attention(attention, out_channels)

    def forward(
        self, x: torch.Tensor, size: tuple[int, int] | None, skip: torch.Tensor | None, use_attention1: bool
    ) -> torch.Tensor:
        x = F.interpolate(x, size=size, scale_factor=None if size is not None else 2.0, mode=self.interpolation)
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        if use_attention1:
            x = self.attention1(x)
        x = self.conv1(x)
        x = self.conv2(x)
        return self.attention2(x)


class UnetDecoder(Decoder):
    """U-Net decoder on any encoder whose feature strides are powers of two.

    One block per halving of the deepest stride (5 blocks for stride 32), each doubling the resolution; block ``i``
    concatenates the encoder feature at its target stride when the encoder has one (the last one if several),
    except stride-1 features, which smp's U-Net never uses as skips either. So ConvNeXt-style encoders (finest
    feature at stride 4) get blocks without skips at strides 2 and 1, exactly as smp's ``tu-`` encoders do.
    The output is at the input resolution with ``decoder_channels[-1]`` channels.
    """

    def __init__(
        self,
        encoder_channels: list[int],
        encoder_reductions: list[int],
        decoder_channels: tuple[int, ...] | list[int] | None = None,
        *,
        use_batchnorm: bool = True,
        attention: str | None = None,
        interpolation: str = "nearest",
    ) -> None:
        super().__init__()
        if len(encoder_channels) != len(encoder_reductions) or not encoder_channels:
            raise ConfigurationError("the encoder must describe each feature's channels and stride")
        bad = [r for r in encoder_reductions if r < 1 or r & (r - 1)]
        if bad:
            raise ConfigurationError(f"U-Net needs encoder strides that are powers of two, got {encoder_reductions}")
        self.head_index = max(range(len(encoder_reductions)), key=lambda i: (encoder_reductions[i], i))
        max_reduction = encoder_reductions[self.head_index]
        n_blocks = int(math.log2(max_reduction))
        if n_blocks < 1:
            raise ConfigurationError("U-Net needs an encoder that downsamples (deepest stride >= 2)")
        if decoder_channels is None:
            if n_blocks > len(DEFAULT_DECODER_CHANNELS):
                raise ConfigurationError(
                    f"pass decoder_channels with {n_blocks} entries (deepest stride {max_reduction})"
                )
            decoder_channels = DEFAULT_DECODER_CHANNELS[-n_blocks:]
        decoder_channels = tuple(int(c) for c in decoder_channels)
        if len(decoder_channels) != n_blocks:
            raise ConfigurationError(
                f"decoder_channels needs {n_blocks} entries for an encoder whose deepest stride is {max_reduction} "
                f"(one block per 2x upsampling), got {len(decoder_channels)}: {decoder_channels}"
            )
        if interpolation not in ("nearest", "nearest-exact", "bilinear", "bicubic", "area"):
            raise ConfigurationError(f"unsupported interpolation {interpolation!r}")
        # stride -> index of the (last) encoder feature at that stride, used as a skip
        by_stride = {r: i for i, r in enumerate(encoder_reductions) if i != self.head_index and r > 1}
        self.targets = [max_reduction >> (k + 1) for k in range(n_blocks)]
        self.skip_indices = [by_stride.get(t, -1) for t in self.targets]
        in_channels = [encoder_channels[self.head_index], *decoder_channels[:-1]]
        skip_channels = [encoder_channels[i] if i >= 0 else 0 for i in self.skip_indices]
        self.blocks = nn.ModuleList(
            UnetDecoderBlock(
                cin,
                cskip,
                cout,
                use_batchnorm=use_batchnorm,
                attention=attention,
                interpolation=interpolation,
            )
            for cin, cskip, cout in zip(in_channels, skip_channels, decoder_channels)
        )
        self.out_channels = decoder_channels[-1]
        self.input_divisor = max_reduction
        self.decoder_channels = decoder_channels

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = features[self.head_index]
        for block, target, skip_index in zip(self.blocks, self.targets, self.skip_indices):
            if skip_index >= 0:
                skip = features[skip_index]
                size = skip.shape[-2:]  # not int(): ONNX export keeps the size dynamic
            else:
                skip, size = None, None  # plain 2x upsampling
            # smp applies attention1 in every block but the last (there its "skip" may be an empty placeholder)
            x = block(x, size, skip, use_attention1=target > 1)
        return x
