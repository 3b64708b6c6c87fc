"""segzoo hook implementations of the segzoo-segnet plugin: lazy factories (``"module:function"``), imported on
first use, so that discovery imports no torch."""

from __future__ import annotations

import segzoo

SEGZOO_PLUGIN_API = 1

_VGG = ("vgg11", "vgg13", "vgg16", "vgg19")


@segzoo.hookimpl
def register_architectures(register):
    register(
        "segnet",
        "segzoo_segnet.model:build_segnet",
        default_encoder="vgg16_bn_segnet",
        description="SegNet: VGG16-BN encoder whose max-pooling indices drive the mirrored decoder's unpooling",
        paper="https://arxiv.org/abs/1511.00561",
        unsupported={
            "onnx": "the TorchScript ONNX exporter has no max_unpool2d; `segzoo export` uses the dynamo "
            "exporter (pip install onnxscript) for SegNet"
        },
        encoders="only encoders that return pooling indices: vgg16_bn_segnet (the paper's), vgg11/13/19_bn_segnet, "
        "segnet_basic (the paper's SegNet-Basic); "
        "any input size (odd sizes are unpooled exactly)",
    )


@segzoo.hookimpl
def register_encoders(register):
    register(
        "segnet_basic",
        "segzoo_segnet.encoder:build_segnet_basic_encoder",
        description="SegNet-Basic (the SegNet paper's CamVid analysis model): 4 stages of one 7x7 conv (64 "
        "channels, no bias) + BN + ReLU + 2x2 max pooling with indices; segnet pairs it with 7x7 conv-BN decoder "
        "layers (no ReLU) and a 1x1 classifier; no pretrained weights",
    )
    for cfg in _VGG:
        register(
            f"{cfg}_bn_segnet",
            f"segzoo_segnet.encoder:build_{cfg}_bn_segnet",
            description=f"{cfg.upper()}-BN conv layers with index-returning max pooling (SegNet); pretrained = "
            f"timm's {cfg}_bn ImageNet weights (timm/{cfg}_bn.tv_in1k)",
        )
