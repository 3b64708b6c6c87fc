"""segzoo hooks of segzoo-fcn: architectures ``fcn`` and ``fcn8s`` and the ``torchvision:fcn`` converter.

Builders are registered as lazy factories (``"module:function"``), imported on first use, so that discovery
imports no torch.
"""

from __future__ import annotations

import segzoo

SEGZOO_PLUGIN_API = 1


@segzoo.hookimpl
def register_architectures(register):
    register(
        "fcn",
        "segzoo_fcn.model:build_fcn",
        default_encoder="resnet50",
        description="FCN (Long et al. 2015) as in torchvision: dilated encoder (stride 8) and a 3x3 conv head",
        paper="https://arxiv.org/abs/1411.4038",
        encoders="encoders that dilate to the chosen output_stride (8 by default; 32 works with any encoder)",
    )
    register(
        "fcn8s",
        "segzoo_fcn.model:build_fcn8s",
        default_encoder="resnet50",
        description="FCN-8s (Long et al. 2015): class scores from strides 32, 16 and 8, upsampled and summed",
        paper="https://arxiv.org/abs/1411.4038",
        encoders="any encoder with features at strides 8, 16 and 32 (CNNs, hierarchical transformers)",
    )


@segzoo.hookimpl
def register_converters(register):
    register("torchvision:fcn", "segzoo_fcn.convert:convert_torchvision_fcn")
    register(
        "mmseg:fcn",
        "segzoo_fcn.mmseg:convert_mmseg",
        description="mmsegmentation FCN (FCNHead on ResNetV1c/ResNet, auxiliary FCNHead) -> segzoo fcn",
    )
