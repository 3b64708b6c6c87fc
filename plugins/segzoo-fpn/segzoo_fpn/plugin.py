"""segzoo hook implementations of the segzoo-fpn plugin: lazy factories (``"module:function"``), imported on first
use, so that discovery imports no torch."""

from __future__ import annotations

import segzoo

SEGZOO_PLUGIN_API = 1


@segzoo.hookimpl
def register_architectures(register):
    register(
        "fpn",
        "segzoo_fpn.model:build_fpn",
        default_encoder="resnet34",
        description="FPN semantic branch of Panoptic FPN (Kirillov et al. 2019) as in smp: top-down pyramid, "
        "conv-GN-ReLU + 2x upsampling to stride 4, sum, 1x1 classifier, 4x upsampling",
        paper="https://arxiv.org/abs/1901.02446",
        encoders="any timm features_only backbone or registered encoder with at least 4 feature levels whose "
        "strides grow by powers of two (ResNet, EfficientNet, ConvNeXt, Swin...); input sides divisible by 32",
    )


@segzoo.hookimpl
def register_converters(register):
    register(
        "smp:fpn",
        "segzoo_fpn.smp:convert_smp_fpn",
        description="segmentation_models_pytorch FPN (smp ResNet/ResNeXt or tu- encoders) -> segzoo fpn",
    )
