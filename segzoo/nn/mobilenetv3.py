"""``tv_mobilenet_v3_large``: torchvision's MobileNetV3-Large as a segzoo encoder (no torchvision import).

Why not timm's ``mobilenetv3_large_100``: it is the same network on paper but not numerically: its BatchNorm ``eps``
is 1e-5 (torchvision: 1e-3), and when dilated for output stride 16 timm keeps dilation 1 in the first block of the
last stage (torchvision: 2). Its features are also taken at the end of each stage, while torchvision's segmentation
models take the output of the first, strided block of a stage (``features[4]``, 40 channels, for the stride-8 "low"
feature). This module reproduces torchvision's ``mobilenet_v3_large(dilated=...).features`` exactly: same layers,
same order, same state-dict names under ``features.<i>``.

Feature maps returned (finest first), with torchvision's block indices (its ``stage_indices`` without the redundant
160-channel one)::

    index  block        channels  stride (output_stride 32 / 16 / 8)
    0      features[0]  16        2
    1      features[2]  24        4
    2      features[4]  40        8
    3      features[7]  80        16 / 16 / 8
    4      features[16] 960       32 / 16 / 8
"""

from __future__ import annotations

import torch
from torch import nn

from segzoo.errors import ConfigurationError
from segzoo.nn.encoder import Encoder

#: torchvision's ImageNet weights of MobileNetV3-Large (IMAGENET1K_V1, the backbone its segmentation models start from)
IMAGENET_URL = "https://download.pytorch.org/models/mobilenet_v3_large-8738ca79.pth"

# (input, kernel, expanded, output, squeeze-excitation, activation, stride): Table 1 of Howard et al. 2019
LARGE_SETTING = [
    (16, 3, 16, 16, False, "RE", 1),
    (16, 3, 64, 24, False, "RE", 2),  # C1
    (24, 3, 72, 24, False, "RE", 1),
    (24, 5, 72, 40, True, "RE", 2),  # C2
    (40, 5, 120, 40, True, "RE", 1),
    (40, 5, 120, 40, True, "RE", 1),
    (40, 3, 240, 80, False, "HS", 2),  # C3
    (80, 3, 200, 80, False, "HS", 1),
    (80, 3, 184, 80, False, "HS", 1),
    (80, 3, 184, 80, False, "HS", 1),
    (80, 3, 480, 112, True, "HS", 1),
    (112, 3, 672, 112, True, "HS", 1),
    (112, 5, 672, 160, True, "HS", 2),  # C4
    (160, 5, 960, 160, True, "HS", 1),
    (160, 5, 960, 160, True, "HS", 1),
]
#: indices into ``features`` of the maps the encoder returns
FEATURE_BLOCKS = (0, 2, 4, 7, 16)


def make_divisible(value: float, divisor: int = 8) -> int:
    """Channel rounding of the TensorFlow MobileNet code (as torchvision's ``_make_divisible``)."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=0.001, momentum=0.01)


class ConvBNAct(nn.Sequential):
    """Conv (no bias), BatchNorm (eps 1e-3), optional activation: torchvision's ``Conv2dNormActivation`` layout."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        stride: int = 1,
        dilation: int = 1,
        groups: int = 1,
        activation: type[nn.Module] | None = nn.Hardswish,
    ) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(
                in_channels, out_channels, kernel_size, stride, (kernel_size - 1) // 2 * dilation,
                dilation=dilation, groups=groups, bias=False,
            ),
            _bn(out_channels),
        ]
        if activation is not None:
            layers.append(activation(inplace=True))
        super().__init__(*layers)
        self.out_channels = out_channels


class SqueezeExcitation(nn.Module):
    """avgpool -> fc1 (1x1) -> ReLU -> fc2 (1x1) -> hard sigmoid, scaling the input (torchvision's layout)."""

    def __init__(self, channels: int, squeeze_channels: int) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, channels, 1)
        self.activation = nn.ReLU()
        self.scale_activation = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return scale * x


class InvertedResidual(nn.Module):
    """Expand 1x1 -> depthwise kxk (strided or dilated) -> optional SE -> project 1x1, residual when shapes allow."""

    def __init__(
        self, cin: int, kernel: int, expanded: int, cout: int, use_se: bool, act: str, stride: int, dilation: int
    ) -> None:
        super().__init__()
        # torchvision decides the residual on the configured stride, also when dilation replaced it
        self.use_res_connect = stride == 1 and cin == cout
        activation = nn.Hardswish if act == "HS" else nn.ReLU
        layers: list[nn.Module] = []
        if expanded != cin:
            layers.append(ConvBNAct(cin, expanded, 1, activation=activation))
        layers.append(
            ConvBNAct(
                expanded, expanded, kernel, stride=1 if dilation > 1 else stride, dilation=dilation, groups=expanded,
                activation=activation,
            )
        )
        if use_se:
            layers.append(SqueezeExcitation(expanded, make_divisible(expanded // 4, 8)))
        layers.append(ConvBNAct(expanded, cout, 1, activation=None))
        self.block = nn.Sequential(*layers)
        self.out_channels = cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        if self.use_res_connect:
            out = out + x
        return out


class TVMobileNetV3LargeEncoder(Encoder):
    """torchvision's MobileNetV3-Large feature extractor; state-dict keys ``features.<i>.*`` as in torchvision.

    ``output_stride`` 16 is torchvision's ``dilated=True`` (the last stage, from its strided block on, runs at
    stride 16 with dilation 2); 8 also dilates the stride-16 stage (dilation 2, last stage 4), in the same manner.
    """

    def __init__(self, *, in_channels: int = 3, output_stride: int = 32) -> None:
        super().__init__()
        if output_stride not in (8, 16, 32):
            raise ConfigurationError(f"tv_mobilenet_v3_large: output_stride must be 8, 16 or 32, got {output_stride}")
        layers: list[nn.Module] = [ConvBNAct(in_channels, 16, 3, stride=2)]
        stride, dilation, reductions = 2, 1, [2]
        for cin, kernel, expanded, cout, use_se, act, block_stride in LARGE_SETTING:
            if block_stride > 1:
                if stride * block_stride > output_stride:
                    dilation *= block_stride  # this block already dilates, as torchvision's dilated=True does
                else:
                    stride *= block_stride
            layers.append(InvertedResidual(cin, kernel, expanded, cout, use_se, act, block_stride, dilation))
            reductions.append(stride)
        layers.append(ConvBNAct(160, 960, 1))
        reductions.append(stride)
        self.features = nn.Sequential(*layers)
        self.out_channels = [layers[i].out_channels for i in FEATURE_BLOCKS]
        self.reductions = [reductions[i] for i in FEATURE_BLOCKS]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for i, block in enumerate(self.features):
            x = block(x)
            if i in FEATURE_BLOCKS:
                out.append(x)
        return out

    def load_imagenet_state_dict(self, state_dict: dict[str, torch.Tensor]) -> None:
        """Load a torchvision ``mobilenet_v3_large`` classification state dict (its ``classifier.*`` is dropped).

        For ``in_channels`` other than 3 the stem's weights are adapted as timm does (summed for 1 channel, repeated
        and rescaled otherwise).
        """
        features = {k[len("features."):]: v for k, v in state_dict.items() if k.startswith("features.")}
        stem = self.features[0][0].weight
        if "0.0.weight" in features and features["0.0.weight"].shape[1] != stem.shape[1]:
            from timm.models import adapt_input_conv

            features["0.0.weight"] = adapt_input_conv(stem.shape[1], features["0.0.weight"])
        self.features.load_state_dict(features, strict=True)


def build_tv_mobilenet_v3_large(*, in_channels: int, output_stride: int, pretrained: bool) -> TVMobileNetV3LargeEncoder:
    encoder = TVMobileNetV3LargeEncoder(in_channels=in_channels, output_stride=output_stride)
    if pretrained:
        state = torch.hub.load_state_dict_from_url(IMAGENET_URL, map_location="cpu", check_hash=True, weights_only=True)
        encoder.load_imagenet_state_dict(state)
    return encoder
