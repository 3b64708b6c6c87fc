"""HRNet (Sun, Xiao, Liu, Wang 2019, https://arxiv.org/abs/1904.04514) as a segzoo encoder.

A stride-4 stem (two 3x3 stride-2 conv-BN-ReLU and a stage of Bottleneck blocks) is followed by stages that each add
one lower-resolution branch: every stage is a chain of *modules*, each running residual blocks on every branch in
parallel and then exchanging information between all branches (each output branch sums every input branch, resized
to its resolution: strided 3x3 convs going down, a 1x1 conv and bilinear upsampling going up). The encoder returns
the four branches of the last stage (strides 4, 8, 16, 32), finest first.

Module names follow the HRNet authors' release, which mmsegmentation and timm also use (``conv1``, ``layer1``,
``transition1``, ``stage2.0.branches``, ``fuse_layers``...), so their checkpoints map by prefix. timm's HRNet is
not reused: it upsamples with nearest neighbour in the exchange units where mmsegmentation (and this module) uses
bilinear interpolation, so the same weights give other features.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from timm.models.resnet import BasicBlock, Bottleneck
from torch import nn

from segzoo.errors import ConfigurationError
from segzoo.nn import Encoder


@dataclass(frozen=True)
class HRNetConfig:
    """The shape of an HRNet: Bottleneck blocks in the stem stage, then per stage (2, 3, 4) the number of modules
    and of BasicBlocks per branch; ``widths`` are the channels of the four branches (18 for W18, 48 for W48...)."""

    stem_blocks: int
    stage_modules: tuple[int, int, int]
    stage_blocks: tuple[int, int, int]
    widths: tuple[int, int, int, int]


#: The HRNetV2 variants of mmsegmentation's configs (``hr18s``, ``hr18``, ``hr48``).
VARIANTS: dict[str, HRNetConfig] = {
    "hrnetv2_w18_small": HRNetConfig(2, (1, 3, 2), (2, 2, 2), (18, 36, 72, 144)),
    "hrnetv2_w18": HRNetConfig(4, (1, 4, 3), (4, 4, 4), (18, 36, 72, 144)),
    "hrnetv2_w48": HRNetConfig(4, (1, 4, 3), (4, 4, 4), (48, 96, 192, 384)),
}

STEM_WIDTH = 64


def _conv_bn(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, *, relu: bool) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def _blocks(block: type[nn.Module], in_channels: int, channels: int, count: int) -> nn.Sequential:
    """``count`` residual blocks; the first gets a 1x1 conv-BN shortcut when the channels change."""
    out_channels = channels * block.expansion
    shortcut = _conv_bn(in_channels, out_channels, 1, relu=False) if in_channels != out_channels else None
    layers = [block(in_channels, channels, downsample=shortcut)]
    layers += [block(out_channels, channels) for _ in range(count - 1)]
    return nn.Sequential(*layers)


def _downsampler(in_channels: int, out_channels: int, steps: int) -> nn.Sequential:
    """``steps`` strided 3x3 conv-BN (ReLU between them, none after the last) from one branch down to another."""
    layers = [_conv_bn(in_channels, in_channels, 3, 2, relu=True) for _ in range(steps - 1)]
    layers.append(_conv_bn(in_channels, out_channels, 3, 2, relu=False))
    return nn.Sequential(*layers)


class ExchangeModule(nn.Module):
    """One HRNet module: BasicBlocks on each branch, then every output branch sums all branches at its resolution."""

    def __init__(self, widths: tuple[int, ...], blocks: int) -> None:
        super().__init__()
        self.branches = nn.ModuleList(_blocks(BasicBlock, w, w, blocks) for w in widths)
        self.fuse_layers = nn.ModuleList(
            nn.ModuleList(self._fuse(widths, i, j) for j in range(len(widths))) for i in range(len(widths))
        )
        self.relu = nn.ReLU()

    @staticmethod
    def _fuse(widths: tuple[int, ...], target: int, source: int) -> nn.Module:
        if source == target:
            return nn.Identity()
        if source > target:  # coarser: 1x1 conv-BN here, bilinear upsampling in forward
            return _conv_bn(widths[source], widths[target], 1, relu=False)
        return _downsampler(widths[source], widths[target], target - source)

    def forward(self, x: list[torch.Tensor]) -> list[torch.Tensor]:
        x = [branch(t) for branch, t in zip(self.branches, x)]
        out = []
        for i, row in enumerate(self.fuse_layers):
            total = None
            for j, layer in enumerate(row):  # summed in branch order, as mmseg, for the same rounding
                y = layer(x[j])
                if j > i:
                    y = _upsample(y, 2 ** (j - i), x[i].shape[-2:])
                total = y if total is None else total + y
            out.append(self.relu(total))
        return out


def _upsample(x: torch.Tensor, factor: int, size: torch.Size) -> torch.Tensor:
    """Bilinear upsampling by ``factor``, then to ``size`` when odd input sizes made the two differ (as mmseg)."""
    x = F.interpolate(x, size=(x.shape[-2] * factor, x.shape[-1] * factor), mode="bilinear", align_corners=False)
    if x.shape[-2:] != size:
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    return x


class HRNetEncoder(Encoder):
    """HRNetV2: four parallel branches at strides 4, 8, 16 and 32 (``out_channels`` = the branch widths)."""

    def __init__(self, config: HRNetConfig, *, in_channels: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, STEM_WIDTH, 3, 2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(STEM_WIDTH)
        self.conv2 = nn.Conv2d(STEM_WIDTH, STEM_WIDTH, 3, 2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(STEM_WIDTH)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = _blocks(Bottleneck, STEM_WIDTH, STEM_WIDTH, config.stem_blocks)
        widths = config.widths
        previous = [STEM_WIDTH * Bottleneck.expansion]
        for stage, (modules, blocks) in enumerate(zip(config.stage_modules, config.stage_blocks), start=2):
            current = list(widths[:stage])
            self.add_module(f"transition{stage - 1}", self._transition(previous, current))
            self.add_module(
                f"stage{stage}", nn.Sequential(*(ExchangeModule(tuple(current), blocks) for _ in range(modules)))
            )
            previous = current
        self.out_channels = list(widths)
        self.reductions = [4, 8, 16, 32]

    @staticmethod
    def _transition(previous: list[int], current: list[int]) -> nn.ModuleList:
        """Into the next stage: existing branches pass (or a 3x3 conv-BN-ReLU changes their width), a new branch is
        a strided 3x3 conv-BN-ReLU from the coarsest existing one."""
        layers: list[nn.Module] = []
        for i, width in enumerate(current):
            if i < len(previous):
                layers.append(nn.Identity() if previous[i] == width else _conv_bn(previous[i], width, 3, relu=True))
            else:
                steps = [_conv_bn(previous[-1], previous[-1], 3, 2, relu=True) for _ in range(i - len(previous))]
                steps.append(_conv_bn(previous[-1], width, 3, 2, relu=True))
                layers.append(nn.Sequential(*steps))
        return nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        branches = [self.layer1(x)]
        for stage in (2, 3, 4):
            transition = getattr(self, f"transition{stage - 1}")
            branches = [layer(branches[i] if i < len(branches) else branches[-1]) for i, layer in enumerate(transition)]
            branches = getattr(self, f"stage{stage}")(branches)
        return branches


def build_hrnet_encoder(name: str, *, in_channels: int, output_stride: int, pretrained: bool) -> HRNetEncoder:
    """The registered encoder ``name`` (a key of :data:`VARIANTS`)."""
    if output_stride != 32:
        raise ConfigurationError(
            f"{name} keeps every resolution from stride 4 to 32 and cannot dilate; use output_stride=32 "
            f"(got {output_stride})"
        )
    if pretrained:
        raise ConfigurationError(
            f"segzoo has no ImageNet weights for {name}; start from a catalog model instead "
            "(segzoo list 'fcn-hr*', then segzoo.load(name, num_classes=N))"
        )
    return HRNetEncoder(VARIANTS[name], in_channels=in_channels)


def hrnetv2_w18_small(*, in_channels: int, output_stride: int, pretrained: bool) -> HRNetEncoder:
    return build_hrnet_encoder(
        "hrnetv2_w18_small", in_channels=in_channels, output_stride=output_stride, pretrained=pretrained
    )


def hrnetv2_w18(*, in_channels: int, output_stride: int, pretrained: bool) -> HRNetEncoder:
    return build_hrnet_encoder(
        "hrnetv2_w18", in_channels=in_channels, output_stride=output_stride, pretrained=pretrained
    )


def hrnetv2_w48(*, in_channels: int, output_stride: int, pretrained: bool) -> HRNetEncoder:
    return build_hrnet_encoder(
        "hrnetv2_w48", in_channels=in_channels, output_stride=output_stride, pretrained=pretrained
    )
