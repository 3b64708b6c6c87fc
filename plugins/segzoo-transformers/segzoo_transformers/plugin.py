"""Hook implementations of the segzoo-transformers plugin."""

from __future__ import annotations

from functools import partial

import segzoo

SEGZOO_PLUGIN_API = 1


@segzoo.hookimpl
def register_architectures(register) -> None:
    from segzoo_transformers.segformer import build_segformer
    from segzoo_transformers.upernet import build_upernet

    register(
        "segformer",
        build_segformer,
        default_encoder="mit_b0",
        description="SegFormer (Xie et al. 2021): Mix Transformer encoder + all-MLP decode head, logits at stride 4",
        paper="https://arxiv.org/abs/2105.15203",
        encoders="mit_b0..mit_b5 (as in the paper and transformers); any encoder with a feature pyramid "
        "(the maps at stride >= 4, at most the 4 deepest), e.g. timm resnet50 or convnext_tiny",
    )
    register(
        "upernet",
        build_upernet,
        default_encoder="convnext_tiny",
        description="UPerNet (Xiao et al. 2018): PPM + FPN decoder, optional FCN auxiliary head on stride 16",
        paper="https://arxiv.org/abs/1807.10221",
        encoders="any encoder with a feature pyramid (the maps at stride >= 4, at most the 4 deepest); timm "
        "convnext_* get transformers' per-output LayerNorms (encoder_norms) by default",
    )


@segzoo.hookimpl
def register_encoders(register) -> None:
    from segzoo_transformers.mit import MIT_CONFIGS, build_mit

    for name in MIT_CONFIGS:
        register(name, partial(build_mit, name))


@segzoo.hookimpl
def register_converters(register) -> None:
    from segzoo_transformers.convert import convert_segformer, convert_upernet

    register("transformers:segformer", convert_segformer,
             description="transformers SegformerForSemanticSegmentation (transformers 4 or 5 key names)")
    register("transformers:upernet", convert_upernet,
             description="transformers UperNetForSemanticSegmentation with a ConvNextBackbone")
