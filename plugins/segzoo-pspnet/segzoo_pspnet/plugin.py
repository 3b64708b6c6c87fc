"""segzoo hook implementations of the segzoo-pspnet plugin: lazy factories (``"module:function"``), imported on
first use, so that discovery imports no torch."""

from __future__ import annotations

import segzoo

SEGZOO_PLUGIN_API = 1


@segzoo.hookimpl
def register_architectures(register):
    register(
        "pspnet",
        "segzoo_pspnet.model:build_pspnet",
        default_encoder="resnet50",
        description="PSPNet: pyramid pooling module (bins 1, 2, 3, 6) on a dilated encoder at output stride 8, "
        "optional auxiliary FCN head",
        paper="https://arxiv.org/abs/1612.01105",
        unsupported={
            "onnx": "the ONNX exporter cannot express adaptive average pooling to 2/3/6 bins unless they "
            "divide the feature size"
        },
        encoders="any timm features_only backbone; output_stride 8/16 needs one that supports dilation (ResNet, "
        "ResNeSt, EfficientNet, ...), others need output_stride=32; any input size",
    )


@segzoo.hookimpl
def register_converters(register):
    register(
        "smp:pspnet",
        "segzoo_pspnet.smp:convert_smp_pspnet",
        description="segmentation_models_pytorch PSPNet (smp ResNet/ResNeXt or tu- encoders) -> segzoo pspnet "
        "with smp's options",
    )
    register(
        "mmseg:pspnet",
        "segzoo_pspnet.mmseg:convert_mmseg",
        description="mmsegmentation PSPNet (PSPHead on ResNetV1c/ResNet, auxiliary FCNHead) -> segzoo pspnet",
    )
