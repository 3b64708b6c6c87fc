"""segzoo hook implementations of the segzoo-fpn plugin."""

from __future__ import annotations

import segzoo

SEGZOO_PLUGIN_API = 1


def _build_fpn(**kwargs):
    from segzoo_fpn.model import build_fpn

    return build_fpn(**kwargs)


def _convert_smp(state_dict, entry):
    from segzoo_fpn.smp import convert_smp_fpn

    return convert_smp_fpn(state_dict, entry)


@segzoo.hookimpl
def register_architectures(register):
    register(
        "fpn",
        _build_fpn,
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
        _convert_smp,
        description="segmentation_models_pytorch FPN (smp ResNet/ResNeXt or tu- encoders) -> segzoo fpn",
    )
