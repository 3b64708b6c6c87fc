"""segzoo hook implementations of the segzoo-pspnet plugin."""

from __future__ import annotations

import segzoo

SEGZOO_PLUGIN_API = 1


def _build_pspnet(**kwargs):
    from segzoo_pspnet.model import build_pspnet

    return build_pspnet(**kwargs)


def _convert_smp(state_dict, entry):
    from segzoo_pspnet.smp import convert_smp_pspnet

    return convert_smp_pspnet(state_dict, entry)


@segzoo.hookimpl
def register_architectures(register):
    register(
        "pspnet",
        _build_pspnet,
        default_encoder="resnet50",
        description="PSPNet: pyramid pooling module (bins 1, 2, 3, 6) on a dilated encoder at output stride 8, "
        "optional auxiliary FCN head",
        paper="https://arxiv.org/abs/1612.01105",
        unsupported={"onnx": "the ONNX exporter cannot express adaptive average pooling to 2/3/6 bins unless they "
                             "divide the feature size"},
        encoders="any timm features_only backbone; output_stride 8/16 needs one that supports dilation (ResNet, "
        "ResNeSt, EfficientNet, ...), others need output_stride=32; any input size",
    )


@segzoo.hookimpl
def register_converters(register):
    register(
        "smp:pspnet",
        _convert_smp,
        description="segmentation_models_pytorch PSPNet (smp ResNet/ResNeXt or tu- encoders) -> segzoo pspnet "
        "with smp's options",
    )
