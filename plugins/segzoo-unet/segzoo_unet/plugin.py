"""segzoo hook implementations of the segzoo-unet plugin: lazy factories (``"module:function"``), imported on first
use, so that discovery imports no torch."""

from __future__ import annotations

import segzoo

SEGZOO_PLUGIN_API = 1


@segzoo.hookimpl
def register_architectures(register):
    register(
        "unet",
        "segzoo_unet.model:build_unet",
        default_encoder="resnet34",
        description="U-Net with a pretrained-encoder (smp-style decoder: nearest upsampling, concat skips, "
        "2x conv-BN-ReLU per block, optional scSE attention)",
        paper="https://arxiv.org/abs/1505.04597",
        encoders="any timm features_only backbone or registered encoder whose strides are powers of two "
        "(ResNet, EfficientNet, ConvNeXt, ...); input sides must be divisible by the deepest stride (32)",
    )
    register(
        "unet-original",
        "segzoo_unet.model:build_unet_original",
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
        "segzoo_unet.classic:build_classic_encoder",
        description="contracting path of the original U-Net: 2x(3x3 conv+ReLU) at 64/128/256/512/1024 channels, "
        "strides 1..16, no pretrained weights",
    )
    register(
        "unet-classic-bn",
        "segzoo_unet.classic:build_classic_bn_encoder",
        description="unet-classic with BatchNorm after every conv",
    )


@segzoo.hookimpl
def register_converters(register):
    register(
        "smp:unet",
        "segzoo_unet.smp:convert_smp_unet",
        description="segmentation_models_pytorch Unet (smp ResNet/ResNeXt or tu- encoders) -> segzoo unet",
    )
    register(
        "mmseg:unet-original",
        "segzoo_unet.mmseg:convert_mmseg",
        description="mmsegmentation UNet-S5-D16 with FCN/PSP/ASPP decode head -> segzoo unet-original",
    )
