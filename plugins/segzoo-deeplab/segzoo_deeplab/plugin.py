"""segzoo hooks of segzoo-deeplab: architectures ``deeplabv3`` and ``deeplabv3plus``, encoder
``tv_mobilenet_v3_large`` and the ``torchvision:deeplabv3`` converter.

Builders are registered as lazy factories (``"module:function"``), imported on first use, so that discovery
imports no torch.
"""

from __future__ import annotations

import segzoo

SEGZOO_PLUGIN_API = 1


@segzoo.hookimpl
def register_architectures(register):
    register(
        "deeplabv3",
        "segzoo_deeplab.model:build_deeplabv3",
        default_encoder="resnet50",
        description="DeepLabV3 (Chen et al. 2017): ASPP with image pooling on a dilated encoder; torchvision layout",
        paper="https://arxiv.org/abs/1706.05587",
        encoders="encoders that dilate to output_stride 8 or 16 (timm ResNets, RegNets, EfficientNets, ConvNeXts...; "
        "tv_mobilenet_v3_large); not ViT/Swin-style backbones",
    )
    register(
        "deeplabv3plus",
        "segzoo_deeplab.model:build_deeplabv3plus",
        default_encoder="resnet50",
        description="DeepLabV3+ (Chen et al. 2018): ASPP plus a decoder fusing stride-4 features",
        paper="https://arxiv.org/abs/1802.02611",
        encoders="encoders with a stride-4 feature that dilate to output_stride 8 or 16",
    )


@segzoo.hookimpl
def register_converters(register):
    register("torchvision:deeplabv3", "segzoo_deeplab.convert:convert_torchvision_deeplabv3")
    register(
        "mmseg:deeplabv3",
        "segzoo_deeplab.mmseg_deeplabv3:convert_mmseg",
        description="mmsegmentation DeepLabV3 (ASPPHead on ResNetV1c/ResNet) -> segzoo deeplabv3, mmseg_head",
    )
    register(
        "mmseg:deeplabv3plus",
        "segzoo_deeplab.mmseg_deeplabv3plus:convert_mmseg",
        description="mmsegmentation DeepLabV3+ (DepthwiseSeparableASPPHead) -> segzoo deeplabv3plus, mmseg_head",
    )
