"""SegNet's encoder: the 13 convolutional layers of VGG16 with BatchNorm, max-pooling that returns its indices.

Layout (VGG16-BN): ``stages.{s}.{j}`` is conv 3x3 (with bias, as in VGG) -> BatchNorm -> ReLU (children 0/1/2),
five stages of 2, 2, 3, 3, 3 layers with 64, 128, 256, 512, 512 channels, each followed by 2x2 max pooling with
stride 2. ``forward`` returns the five pooled maps (strides 2..32); :meth:`SegNetVGGEncoder.forward_with_indices`
also returns the pooling indices and the pre-pooling sizes the SegNet decoder unpools with.

Weights can come from timm's ``vgg16_bn`` (torchvision's ImageNet weights, ``timm/vgg16_bn.tv_in1k`` on the Hub):
:func:`timm_vgg_to_segnet` maps timm's ``features.N.*`` keys onto ``stages.{s}.{j}.{0|1}.*``.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from segzoo.errors import ConfigurationError
from segzoo.nn import Encoder

#: VGG layer configurations (torchvision/timm): channels per 3x3 conv, "M" = 2x2 max pooling.
VGG_CONFIGS: dict[str, list[int | str]] = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


def stage_channels(cfg: list[int | str]) -> list[list[int]]:
    """``[[64, 64], [128, 128], [256, 256, 256], ...]``: the conv output channels of each stage."""
    stages: list[list[int]] = [[]]
    for v in cfg:
        if v == "M":
            stages.append([])
        else:
            stages[-1].append(int(v))
    return [s for s in stages if s]


def timm_key_map(cfg: list[int | str]) -> dict[str, str]:
    """timm/torchvision ``vgg*_bn`` ``features.N`` module prefixes -> this encoder's ``stages.{s}.{j}.{0|1}``.

    In timm's ``features`` Sequential every conv layer takes three slots (Conv2d, BatchNorm2d, ReLU) and every
    pooling one: for VGG16-BN ``features.0`` -> ``stages.0.0.0`` (conv), ``features.1`` -> ``stages.0.0.1`` (BN),
    ``features.3/4`` -> ``stages.0.1.0/1``, ``features.7`` -> ``stages.1.0.0`` ... ``features.40/41`` ->
    ``stages.4.2.0/1``.
    """
    mapping: dict[str, str] = {}
    n = stage = layer = 0
    for v in cfg:
        if v == "M":
            n += 1
            stage += 1
            layer = 0
            continue
        mapping[f"features.{n}"] = f"stages.{stage}.{layer}.0"
        mapping[f"features.{n + 1}"] = f"stages.{stage}.{layer}.1"
        n += 3
        layer += 1
    return mapping


def timm_vgg_to_segnet(state_dict: dict[str, torch.Tensor], cfg: str | list = "vgg16") -> dict[str, torch.Tensor]:
    """Map a timm ``vgg*_bn`` state dict onto :class:`SegNetVGGEncoder` keys (encoder-relative: ``stages.*``).

    ``pre_logits.*`` (fc6/fc7 as convs) and ``head.*`` (the classifier) are dropped: SegNet removes VGG's fully
    connected layers. Any other key that is not a mapped ``features.N`` layer raises.
    """
    cfg_list = VGG_CONFIGS[cfg] if isinstance(cfg, str) else cfg
    prefixes = timm_key_map(cfg_list)
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if key.startswith(("pre_logits.", "head.")):
            continue
        module, _, param = key.rpartition(".")
        if module not in prefixes:
            raise ConfigurationError(f"unexpected key {key!r} in a timm VGG state dict for {cfg!r}")
        out[f"{prefixes[module]}.{param}"] = value
    return out


class SegNetVGGEncoder(Encoder):
    """VGG-BN feature extractor whose pooling returns indices (see the module docstring).

    ``kernel_size`` (default 3, VGG's) is the size of every conv; the SegNet decoder mirrors it.
    """

    #: what the SegNet decoder and head built on this encoder look like (see ``SegNetDecoder``)
    decoder_relu = True
    decoder_first_stage_conv = False
    head_kernel_size = 3

    def __init__(self, cfg: str = "vgg16", in_channels: int = 3, *, kernel_size: int = 3) -> None:
        super().__init__()
        if cfg not in VGG_CONFIGS:
            raise ConfigurationError(f"unknown VGG configuration {cfg!r}; choose one of {sorted(VGG_CONFIGS)}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ConfigurationError(f"kernel_size must be a positive odd integer, got {kernel_size!r}")
        self.cfg = cfg
        self.in_channels = in_channels
        self.kernel_size = kernel_size
        self.stage_channels = stage_channels(VGG_CONFIGS[cfg])
        stages = []
        cin = in_channels
        for chans in self.stage_channels:
            layers = []
            for cout in chans:
                layers.append(
                    nn.Sequential(
                        nn.Conv2d(cin, cout, kernel_size, padding=kernel_size // 2),
                        nn.BatchNorm2d(cout),
                        nn.ReLU(inplace=True),
                    )
                )
                cin = cout
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)
        self.pool = nn.MaxPool2d(2, stride=2, return_indices=True)
        self.out_channels = [chans[-1] for chans in self.stage_channels]
        self.reductions = [2 ** (i + 1) for i in range(len(self.stage_channels))]
        for m in self.modules():  # torchvision's VGG initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward_with_indices(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Size]]:
        """(pooled features finest first, pooling indices, pre-pooling sizes) — one of each per stage."""
        features, indices, sizes = [], [], []
        for stage in self.stages:
            x = stage(x)
            sizes.append(x.shape[-2:])
            x, idx = self.pool(x)
            features.append(x)
            indices.append(idx)
        return features, indices, sizes

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.forward_with_indices(x)[0]

    def load_timm_state_dict(self, state_dict: dict[str, torch.Tensor]) -> None:
        """Load a timm ``vgg*_bn`` state dict of the same configuration (strict)."""
        self.load_state_dict(timm_vgg_to_segnet(state_dict, self.cfg), strict=True)


class SegNetBasicEncoder(SegNetVGGEncoder):
    """SegNet-Basic's encoder (Badrinarayanan et al. 2017, section 4.1; SegNet-Tutorial's
    ``segnet_basic_train.prototxt``), the small SegNet the paper uses for its CamVid decoder analysis.

    ``depth`` (4) stages, each ONE ``kernel_size`` x ``kernel_size`` (7x7) conv with ``channels`` (64) outputs ->
    BatchNorm -> ReLU -> 2x2 max pooling with indices. Same keys as the VGG encoder: ``stages.{s}.0.{0|1}``. The
    matching decoder (``SegNetDecoder`` with ``relu=False, first_stage_conv=True``) has one 7x7 conv-BN per stage and
    no ReLU (as the prototxt's ``conv_decode*`` layers), and the head is a 1x1 classifier (``conv_classifier``).
    Deviations from the Caffe model: its input LRN layer (``norm``, local_size 5) is left out (inputs are mean/std
    normalised instead), and the convs have no bias (each is followed by BatchNorm, whose shift makes a bias
    redundant). No ImageNet weights exist for it.
    """

    decoder_relu = False
    decoder_first_stage_conv = True
    head_kernel_size = 1

    def __init__(self, in_channels: int = 3, *, channels: int = 64, depth: int = 4, kernel_size: int = 7) -> None:
        Encoder.__init__(self)
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ConfigurationError(f"kernel_size must be a positive odd integer, got {kernel_size!r}")
        if depth < 1 or channels < 1:
            raise ConfigurationError(f"depth and channels must be positive, got {depth} and {channels}")
        self.cfg = "segnet_basic"
        self.in_channels = in_channels
        self.kernel_size = kernel_size
        self.stage_channels = [[channels] for _ in range(depth)]
        stages, cin = [], in_channels
        for _ in range(depth):
            conv = nn.Conv2d(cin, channels, kernel_size, padding=kernel_size // 2, bias=False)
            stages.append(nn.Sequential(nn.Sequential(conv, nn.BatchNorm2d(channels), nn.ReLU(inplace=True))))
            cin = channels
        self.stages = nn.ModuleList(stages)
        self.pool = nn.MaxPool2d(2, stride=2, return_indices=True)
        self.out_channels = [channels] * depth
        self.reductions = [2 ** (i + 1) for i in range(depth)]
        for m in self.modules():  # He et al. initialisation, as the paper
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")

    def load_timm_state_dict(self, state_dict: dict[str, torch.Tensor]) -> None:
        raise ConfigurationError("segnet_basic has no timm counterpart (and no ImageNet weights)")


def build_segnet_basic_encoder(*, in_channels: int, output_stride: int, pretrained: bool) -> SegNetBasicEncoder:
    if output_stride != 32:  # create_encoder's default; SegNet-Basic's own deepest stride is 16
        raise ConfigurationError("segnet_basic has no dilated variant (SegNet unpools every pooling)")
    if pretrained:
        raise ConfigurationError(
            "segnet_basic has no pretrained weights (the paper trains SegNet-Basic from scratch); use "
            "pretrained_encoder=False"
        )
    return SegNetBasicEncoder(in_channels)


def build_segnet_encoder(cfg: str, *, in_channels: int, output_stride: int, pretrained: bool) -> SegNetVGGEncoder:
    if output_stride != 32:
        raise ConfigurationError(
            f"{cfg}_bn_segnet has no dilated variant (SegNet unpools every pooling); use output_stride=32"
        )
    encoder = SegNetVGGEncoder(cfg, in_channels)
    if pretrained:
        import timm

        # timm's vgg*_bn default weights are torchvision's ImageNet weights (timm/vgg16_bn.tv_in1k); timm adapts
        # the first conv when in_channels != 3
        source = timm.create_model(f"{cfg}_bn", pretrained=True, in_chans=in_channels)
        encoder.load_timm_state_dict(source.state_dict())
    return encoder


# one builder per registered name, for the plugin's lazy factories ("segzoo_segnet.encoder:build_vgg16_bn_segnet")
build_vgg11_bn_segnet = partial(build_segnet_encoder, "vgg11")
build_vgg13_bn_segnet = partial(build_segnet_encoder, "vgg13")
build_vgg16_bn_segnet = partial(build_segnet_encoder, "vgg16")
build_vgg19_bn_segnet = partial(build_segnet_encoder, "vgg19")
