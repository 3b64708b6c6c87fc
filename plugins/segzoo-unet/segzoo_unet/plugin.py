"""segzoo hook implementations of the segzoo-unet plugin."""

from __future__ import annotations

import segzoo

SEGZOO_PLUGIN_API = 1


def _build_unet(**kwargs):
    from segzoo_unet.model import build_unet

    return build_unet(**kwargs)


def _build_unet_original(**kwargs):
    from segzoo_unet.model import build_unet_original

    return build_unet_original(**kwargs)


def _classic(*, in_channels, output_stride, pretrained):
    from segzoo_unet.classic import build_classic_encoder

    return build_classic_encoder(in_channels=in_channels, output_stride=output_stride, pretrained=pretrained)


def _classic_bn(*, in_channels, output_stride, pretrained):
    from segzoo_unet.classic import build_classic_encoder

    return build_classic_encoder(
        in_channels=in_channels, output_stride=output_stride, pretrained=pretrained, batchnorm=True
    )


def _convert_smp(state_dict, entry):
    from segzoo_unet.smp import convert_smp_unet

    return convert_smp_unet(state_dict, entry)


@segzoo.hookimpl
def register_architectures(register):
    register(
        "unet",
        _build_unet,
        default_encoder="resnet34",
        description="U-Net with a pretrained-encoder (smp-style decoder: nearest upsampling, concat skips, "
        "2x conv-BN-ReLU per block, optional scSE attention)",
        paper="https://arxiv.org/abs/1505.04597",
        encoders="any timm features_only backbone or registered encoder whose strides are powers of two "
        "(ResNet, EfficientNet, ConvNeXt, ...); input sides must be divisible by the deepest stride (32)",
    )
    register(
        "unet-original",
        _build_unet_original,
        default_encoder="unet-classic",
        description="The original U-Net of Ronneberger et al. 2015 (64..1024-channel double convs, 2x2 up-convs), "
        "with padded convolutions so the output has the input size",
        paper="https://arxiv.org/abs/1505.04597",
        encoders="'unet-classic' (the paper's contracting path), 'unet-classic-bn', or any encoder whose strides "
        "double at every level (e.g. resnet34); input sides divisible by the deepest stride (16 for unet-classic)",
    )


@segzoo.hookimpl
def register_encoders(register):
    register(
        "unet-classic",
        _classic,
        description="contracting path of the original U-Net: 2x(3x3 conv+ReLU) at 64/128/256/512/1024 channels, "
        "strides 1..16, no pretrained weights",
    )
    register("unet-classic-bn", _classic_bn, description="unet-classic with BatchNorm after every conv")


@segzoo.hookimpl
def register_converters(register):
    register(
        "smp:unet",
        _convert_smp,
        description="segmentation_models_pytorch Unet (smp ResNet/ResNeXt or tu- encoders) -> segzoo unet",
    )
