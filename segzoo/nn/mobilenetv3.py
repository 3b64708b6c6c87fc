"""``tv_mobilenet_v3_large``: torchvision's own MobileNetV3-Large, wrapped as a segzoo encoder.

Why torchvision's and not timm's ``mobilenetv3_large_100``: torchvision's segmentation checkpoints (DeepLabV3 and
LR-ASPP on MobileNetV3) were trained on it, and timm's differs numerically: BatchNorm ``eps`` 1e-5 (torchvision:
1e-3), dilation 1 in the first block of the dilated stage (torchvision: 2), and features taken at the end of each
stage, while torchvision's segmentation models take the output of the first, strided block (``features[4]``, 40
channels, for the stride-8 "low" feature). Wrapping ``torchvision.models.mobilenet_v3_large(...).features`` keeps
its layers, numerics and state-dict names (``features.<i>.*``) by construction.

Feature maps returned (finest first), with torchvision's block indices (its ``stage_indices`` without the redundant
160-channel one)::

    index  block        channels  stride (output_stride 32 / 16 / 8)
    0      features[0]  16        2
    1      features[2]  24        4
    2      features[4]  40        8
    3      features[7]  80        16 / 16 / 8
    4      features[16] 960       32 / 16 / 8

Output stride 16 is torchvision's ``dilated=True`` (what its segmentation builders use). Output stride 8, which
torchvision does not offer, dilates the stride-16 stage the same way (its strided block and the rest: dilation 2;
the last stage: 4). torchvision is imported when an encoder is built, never at discovery.
"""

from __future__ import annotations

import torch
from torch import nn

from segzoo.errors import ConfigurationError, WeightsError
from segzoo.nn.encoder import Encoder

#: indices into ``features`` of the maps the encoder returns
FEATURE_BLOCKS = (0, 2, 4, 7, 16)
#: the blocks of the stride-16 stage (from its strided block on), dilated for output stride 8
_STRIDE16_BLOCKS = range(7, 16)


def _dilate(block: nn.Module, factor: int) -> None:
    """Turn ``block``'s depthwise convolution from strided into dilated (``factor`` times its dilation), keeping
    the output size: what torchvision's ``InvertedResidual`` builds for a config with that dilation."""
    for conv in block.modules():
        if isinstance(conv, nn.Conv2d) and conv.groups > 1:
            dilation = conv.dilation[0] * factor
            conv.stride, conv.dilation = (1, 1), (dilation, dilation)
            conv.padding = ((conv.kernel_size[0] - 1) // 2 * dilation,) * 2


class TVMobileNetV3LargeEncoder(Encoder):
    """torchvision's MobileNetV3-Large feature extractor; state-dict keys ``features.<i>.*`` as in torchvision."""

    def __init__(self, *, in_channels: int = 3, output_stride: int = 32) -> None:
        super().__init__()
        if output_stride not in (8, 16, 32):
            raise ConfigurationError(f"tv_mobilenet_v3_large: output_stride must be 8, 16 or 32, got {output_stride}")
        from torchvision.models import mobilenet_v3_large

        features = mobilenet_v3_large(weights=None, dilated=output_stride < 32).features
        if output_stride == 8:
            for i in _STRIDE16_BLOCKS:
                _dilate(features[i], 2)
        if in_channels != 3:
            stem = features[0][0]
            features[0][0] = nn.Conv2d(
                in_channels, stem.out_channels, stem.kernel_size, stem.stride, stem.padding, bias=False
            )
            nn.init.kaiming_normal_(features[0][0].weight, mode="fan_out")  # torchvision's initialisation
        self.features = features
        self.out_channels = [features[i].out_channels for i in FEATURE_BLOCKS]
        self.reductions = [min(2 ** (k + 1), output_stride) for k in range(len(FEATURE_BLOCKS))]

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
        features = {k[len("features.") :]: v for k, v in state_dict.items() if k.startswith("features.")}
        stem = self.features[0][0].weight
        if "0.0.weight" in features and features["0.0.weight"].shape[1] != stem.shape[1]:
            from timm.models import adapt_input_conv

            features["0.0.weight"] = adapt_input_conv(stem.shape[1], features["0.0.weight"])
        self.features.load_state_dict(features, strict=True)


def build_tv_mobilenet_v3_large(*, in_channels: int, output_stride: int, pretrained: bool) -> TVMobileNetV3LargeEncoder:
    encoder = TVMobileNetV3LargeEncoder(in_channels=in_channels, output_stride=output_stride)
    if pretrained:
        from torchvision.models import MobileNet_V3_Large_Weights

        # torchvision's ImageNet weights (IMAGENET1K_V1: the backbone its segmentation models start from)
        url = MobileNet_V3_Large_Weights.IMAGENET1K_V1.url
        try:
            state = torch.hub.load_state_dict_from_url(url, map_location="cpu", check_hash=True, weights_only=True)
        except OSError as err:  # urllib's URLError: no network, a proxy, a refused connection
            raise WeightsError(
                f"ImageNet weights of encoder 'tv_mobilenet_v3_large': cannot download {url} "
                f"({getattr(err, 'reason', err)}); check the network or proxy, or put the file in "
                f"{torch.hub.get_dir()}/checkpoints/ from a connected machine, or build the encoder without them "
                "(pretrained_encoder=False; for segzoo train, leave out --pretrained-encoder)"
            ) from None
        encoder.load_imagenet_state_dict(state)
    return encoder
