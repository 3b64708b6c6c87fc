"""mmsegmentation's ResNets as segzoo encoders: ResNetV1c (3-conv "deep" stem) and ResNetV1b (7x7 stem).

mmseg's checkpoints need their exact dilation pattern, which timm's dilated ResNets do not give in every case:

- ``output_stride`` 8/16/32 sets the stage strides (1, 2, 1, 1) / (1, 2, 2, 1) / (1, 2, 2, 2) and, by default, the
  stage dilations (1, 1, 2, 4) / (1, 1, 1, 2) / (1, 1, 1, 1);
- ``dilations`` overrides the stage dilations (mmseg's PSPNet "R-50-D32" keeps (1, 1, 2, 4) at stride 32);
- the first block of a dilated stage uses half the dilation (mmseg's ``contract_dilation``), unless ``multi_grid``
  gives the last stage's block dilations outright (mmseg's "MG124": 1, 2, 4);
- a BasicBlock (ResNet-18) dilates its first 3x3 conv only (timm dilates both, so timm's resnet18 differs at D8).

Keys follow torchvision's block names (``layer{i}.{j}.conv1``, ``bn1``, ..., ``downsample.{0,1}``); the stem is one
``nn.Sequential`` of conv/BN/ReLU (``stem.0``, ``stem.1``, ...), which is mmseg's own layout for the deep stem.
Features: the stem output (stride 2) and the four stages, finest first.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from segzoo.errors import ConfigurationError
from segzoo.nn.encoder import Encoder

__all__ = ["DilatedResNet", "DEFAULT_DILATIONS", "STAGE_STRIDES"]

#: stage strides for each output stride
STAGE_STRIDES = {8: (1, 2, 1, 1), 16: (1, 2, 2, 1), 32: (1, 2, 2, 2)}


#: default stage dilations: each stage whose stride was dropped dilates by the stride it lost, cumulatively
DEFAULT_DILATIONS = {8: (1, 1, 2, 4), 16: (1, 1, 1, 2), 32: (1, 1, 1, 1)}


def _conv_bn(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, dilation: int = 1):
    conv = nn.Conv2d(
        in_channels,
        out_channels,
        kernel_size,
        stride=stride,
        padding=dilation * (kernel_size // 2),
        dilation=dilation,
        bias=False,
    )
    return conv, nn.BatchNorm2d(out_channels)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_channels: int, planes: int, stride: int, dilation: int, downsample: nn.Module | None):
        super().__init__()
        self.conv1, self.bn1 = _conv_bn(in_channels, planes, 3, stride, dilation)
        self.conv2, self.bn2 = _conv_bn(planes, planes, 3)  # not dilated (mmseg's BasicBlock)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class Bottleneck(nn.Module):
    """1x1, 3x3 (stride and dilation here: "pytorch" style), 1x1 with 4x expansion."""

    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int, dilation: int, downsample: nn.Module | None):
        super().__init__()
        self.conv1, self.bn1 = _conv_bn(in_channels, planes, 1)
        self.conv2, self.bn2 = _conv_bn(planes, planes, 3, stride, dilation)
        self.conv3, self.bn3 = _conv_bn(planes, planes * 4, 1)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


DEPTHS: dict[int, tuple[type[BasicBlock] | type[Bottleneck], tuple[int, ...]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
}


def _stage(
    block: type[BasicBlock] | type[Bottleneck], in_channels: int, planes: int, stride: int, dilations: Sequence[int]
) -> nn.Sequential:
    out_channels = planes * block.expansion
    downsample = None
    if stride != 1 or in_channels != out_channels:
        downsample = nn.Sequential(*_conv_bn(in_channels, out_channels, 1, stride))
    blocks = [block(in_channels, planes, stride, dilations[0], downsample)]
    blocks += [block(out_channels, planes, 1, d, None) for d in dilations[1:]]
    return nn.Sequential(*blocks)


def _block_dilations(dilation: int, count: int, multi_grid: Sequence[int] | None) -> list[int]:
    if multi_grid is not None:
        return [int(d) for d in multi_grid]
    first = dilation // 2 if dilation > 1 else dilation  # contract_dilation
    return [first] + [dilation] * (count - 1)


class DilatedResNet(Encoder):
    """ResNet-18/50/101 with mmseg's stems and dilation rules (see the module docstring)."""

    def __init__(
        self,
        depth: int,
        *,
        deep_stem: bool,
        in_channels: int = 3,
        output_stride: int = 32,
        dilations: Sequence[int] | None = None,
        multi_grid: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        if depth not in DEPTHS:
            raise ConfigurationError(f"ResNet depth must be one of {sorted(DEPTHS)}, got {depth!r}")
        if output_stride not in STAGE_STRIDES:
            raise ConfigurationError(f"output_stride must be 8, 16 or 32, got {output_stride!r}")
        block, counts = DEPTHS[depth]
        strides = STAGE_STRIDES[output_stride]
        dilations = tuple(DEFAULT_DILATIONS[output_stride] if dilations is None else (int(d) for d in dilations))
        if len(dilations) != 4 or min(dilations) < 1:
            raise ConfigurationError(f"dilations must be four positive stage dilations, got {list(dilations)}")
        if multi_grid is not None and (len(multi_grid) != counts[-1] or min(multi_grid) < 1):
            raise ConfigurationError(
                f"multi_grid must give one positive dilation per block of the last stage ({counts[-1]} blocks for "
                f"ResNet-{depth}), got {list(multi_grid)}"
            )
        self.deep_stem = deep_stem
        if deep_stem:
            self.stem = nn.Sequential(
                *_conv_bn(in_channels, 32, 3, 2),
                nn.ReLU(inplace=True),
                *_conv_bn(32, 32, 3),
                nn.ReLU(inplace=True),
                *_conv_bn(32, 64, 3),
                nn.ReLU(inplace=True),
            )
        else:
            self.stem = nn.Sequential(*_conv_bn(in_channels, 64, 7, 2), nn.ReLU(inplace=True))
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        channels, reduction = 64, 4
        self.out_channels, self.reductions = [64], [2]
        for i, (count, stride, dilation) in enumerate(zip(counts, strides, dilations)):
            grid = multi_grid if i == 3 else None
            stage = _stage(block, channels, 64 * 2**i, stride, _block_dilations(dilation, count, grid))
            self.add_module(f"layer{i + 1}", stage)
            channels, reduction = 64 * 2**i * block.expansion, reduction * stride
            self.out_channels.append(channels)
            self.reductions.append(reduction)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        features = [x]
        x = self.maxpool(x)
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
            features.append(x)
        return features


def _builder(depth: int, deep_stem: bool):
    def build(
        *,
        in_channels: int = 3,
        output_stride: int = 32,
        pretrained: bool = False,
        dilations: Sequence[int] | None = None,
        multi_grid: Sequence[int] | None = None,
    ) -> DilatedResNet:
        name = f"resnet{depth}_v1{'c' if deep_stem else 'b'}"
        if pretrained:
            raise ConfigurationError(
                f"segzoo has no ImageNet weights for {name}; load a catalog model that uses it, or pick timm's "
                f"'resnet{depth}' encoder for ImageNet initialisation"
            )
        return DilatedResNet(
            depth,
            deep_stem=deep_stem,
            in_channels=in_channels,
            output_stride=output_stride,
            dilations=dilations,
            multi_grid=multi_grid,
        )

    build.__doc__ = f"ResNet-{depth} with mmseg's {'3-conv deep' if deep_stem else '7x7'} stem and dilation rules."
    return build


resnet18_v1c = _builder(18, True)
resnet50_v1c = _builder(50, True)
resnet101_v1c = _builder(101, True)
resnet18_v1b = _builder(18, False)
resnet50_v1b = _builder(50, False)
resnet101_v1b = _builder(101, False)
