"""Hook implementations of the segzoo-transformers plugin.

Everything is registered as a lazy factory (``"module:function"``), imported on first use, so that plugin discovery
(``segzoo list``) imports no torch.
"""

from __future__ import annotations

import segzoo

SEGZOO_PLUGIN_API = 1


@segzoo.hookimpl
def register_architectures(register) -> None:
    register(
        "segformer",
        "segzoo_transformers.segformer:build_segformer",
        default_encoder="mit_b0",
        description="SegFormer (Xie et al. 2021): Mix Transformer encoder + all-MLP decode head, logits at stride 4",
        paper="https://arxiv.org/abs/2105.15203",
        encoders="mit_b0..mit_b5 (as in the paper and transformers); any encoder with a feature pyramid "
        "(the maps at stride >= 4, at most the 4 deepest), e.g. timm resnet50 or convnext_tiny",
    )
    register(
        "upernet",
        "segzoo_transformers.upernet:build_upernet",
        default_encoder="convnext_tiny",
        description="UPerNet (Xiao et al. 2018): PPM + FPN decoder, optional FCN auxiliary head on stride 16",
        paper="https://arxiv.org/abs/1807.10221",
        unsupported={
            "onnx": "the ONNX exporter cannot express adaptive average pooling to 2/3/6 bins unless they "
            "divide the feature size"
        },
        encoders="any encoder with a feature pyramid (the maps at stride >= 4, at most the 4 deepest); timm "
        "convnext_* get transformers' per-output LayerNorms (encoder_norms) by default",
    )


MIT_ENCODERS = ("mit_b0", "mit_b1", "mit_b2", "mit_b3", "mit_b4", "mit_b5")


@segzoo.hookimpl
def register_encoders(register) -> None:
    for name in MIT_ENCODERS:
        register(name, f"segzoo_transformers.mit:build_{name}")


@segzoo.hookimpl
def register_converters(register) -> None:
    register(
        "transformers:segformer",
        "segzoo_transformers.convert:convert_segformer",
        description="transformers SegformerForSemanticSegmentation (transformers 4 or 5 key names)",
    )
    register(
        "transformers:upernet",
        "segzoo_transformers.convert:convert_upernet",
        description="transformers UperNetForSemanticSegmentation with a ConvNextBackbone",
    )
    register(
        "mmseg:upernet",
        "segzoo_transformers.mmseg_upernet:convert_mmseg",
        description="mmsegmentation UPerNet on ResNetV1c (UPerHead, auxiliary FCNHead) -> segzoo upernet",
    )
    register(
        "mmseg:segformer",
        "segzoo_transformers.mmseg_segformer:convert_mmseg",
        description="mmsegmentation SegFormer (MixVisionTransformer B0-B5 + SegformerHead)",
    )
