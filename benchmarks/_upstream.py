"""Upstream twins of segzoo models, shared by the benchmark scripts.

Each twin builds the upstream implementation (torchvision, smp, transformers) with random weights, and says which
segzoo catalog entry (or ``create`` call) and converter correspond to it. Weights are then moved across with the
converter, so both sides compute with identical parameters.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from segzoo.testing.parity import randomize_  # noqa: F401 - re-exported for the scripts

# catalog name -> (torchvision builder, weights enum); the catalog entries point at these builders' files
TORCHVISION = {
    "deeplabv3-resnet50": ("deeplabv3_resnet50", "DeepLabV3_ResNet50_Weights"),
    "deeplabv3-resnet101": ("deeplabv3_resnet101", "DeepLabV3_ResNet101_Weights"),
    "deeplabv3-mobilenetv3-large": ("deeplabv3_mobilenet_v3_large", "DeepLabV3_MobileNet_V3_Large_Weights"),
    "fcn-resnet50": ("fcn_resnet50", "FCN_ResNet50_Weights"),
    "fcn-resnet101": ("fcn_resnet101", "FCN_ResNet101_Weights"),
    "lraspp-mobilenetv3-large": ("lraspp_mobilenet_v3_large", "LRASPP_MobileNet_V3_Large_Weights"),
}


@dataclass
class Twin:
    name: str  # what the benchmark prints
    upstream: str  # the project
    build_upstream: Callable[[], nn.Module]
    logits: Callable[[Any, tuple[int, int]], torch.Tensor]  # (upstream output, input size) -> logits
    entry: dict  # catalog-style entry: architecture, encoder, num_classes, options, weights.format


def _transformers_logits(out, size: tuple[int, int]) -> torch.Tensor:
    """transformers returns stride-4 logits; its post-processing resizes them like this."""
    return torch.nn.functional.interpolate(out.logits, size=size, mode="bilinear", align_corners=False)


def twins(quick: bool = False) -> list[Twin]:
    import segzoo

    result = []
    for name, (builder, _) in TORCHVISION.items():
        if quick and name.endswith("101"):
            continue

        def build(builder=builder):
            from torchvision.models import segmentation

            aux = None if builder.startswith("lraspp") else True
            return getattr(segmentation, builder)(weights=None, weights_backbone=None, num_classes=21, aux_loss=aux)

        result.append(Twin(name, "torchvision", build, lambda out, size: out["out"], segzoo.info(name)))

    def smp_unet():
        import segmentation_models_pytorch as smp

        return smp.Unet("resnet34", encoder_weights=None, classes=12)

    result.append(
        Twin(
            "unet-resnet34",
            "smp",
            smp_unet,
            lambda out, size: out,
            {
                "name": "unet-resnet34",
                "architecture": "unet",
                "encoder": "resnet34",
                "num_classes": 12,
                "options": {},
                "weights": {"format": "smp"},
            },
        )
    )

    for model_class, plugin, depth in (("FPN", "segzoo_fpn", 5), ("PSPNet", "segzoo_pspnet", 3)):  # smp defaults
        config = {
            "_model_class": model_class,
            "encoder_name": "resnet34",
            "encoder_weights": None,
            "classes": 12,
            "encoder_depth": depth,
        }

        def build_smp(config=config):
            import segmentation_models_pytorch as smp

            return getattr(smp, config["_model_class"])(**{k: v for k, v in config.items() if k != "_model_class"})

        entry = importlib.import_module(f"{plugin}.smp").entry_from_smp_config(config)
        entry = {**entry, "name": f"{model_class.lower()}-resnet34", "weights": {"format": "smp"}}
        result.append(Twin(entry["name"], "smp", build_smp, lambda out, size: out, entry))

    def segformer_b0():
        from transformers import SegformerConfig, SegformerForSemanticSegmentation

        return SegformerForSemanticSegmentation(SegformerConfig(num_labels=150))

    result.append(
        Twin(
            "segformer-b0-ade20k-512",
            "transformers",
            segformer_b0,
            _transformers_logits,
            segzoo.info("segformer-b0-ade20k-512"),
        )
    )

    def upernet_convnext_tiny():
        from transformers import ConvNextConfig, UperNetConfig, UperNetForSemanticSegmentation

        backbone = ConvNextConfig(
            hidden_sizes=[96, 192, 384, 768], depths=[3, 3, 9, 3], out_features=["stage1", "stage2", "stage3", "stage4"]
        )
        return UperNetForSemanticSegmentation(
            UperNetConfig(backbone_config=backbone, auxiliary_in_channels=384, num_labels=150)
        )

    if not quick:
        result.append(
            Twin(
                "upernet-convnext-tiny-ade20k",
                "transformers",
                upernet_convnext_tiny,
                _transformers_logits,
                segzoo.info("upernet-convnext-tiny-ade20k"),
            )
        )
    return result + mmseg_twins(quick)


#: one mmsegmentation model per family converted by segzoo (Cityscapes 512x1024 configs, ResNet-50)
MMSEG = {
    "fcn": "fcn_r50-d8_4xb2-40k_cityscapes-512x1024",
    "pspnet": "pspnet_r50-d8_4xb2-40k_cityscapes-512x1024",
    "deeplabv3": "deeplabv3_r50-d8_4xb2-40k_cityscapes-512x1024",
    "deeplabv3plus": "deeplabv3plus_r50-d8_4xb2-40k_cityscapes-512x1024",
    "upernet": "upernet_r50_4xb2-40k_cityscapes-512x1024",
}
_MMSEG_SPEC = {
    "fcn": "segzoo_fcn.mmseg",
    "pspnet": "segzoo_pspnet.mmseg",
    "deeplabv3": "segzoo_deeplab.mmseg_deeplabv3",
    "deeplabv3plus": "segzoo_deeplab.mmseg_deeplabv3plus",
    "upernet": "segzoo_transformers.mmseg_upernet",
}


def mmseg_twins(quick: bool = False) -> list[Twin]:
    """mmseg's own models (the CPU twin of :mod:`segzoo.testing.mmseg`), when mmsegmentation is installed; its
    ``forward`` stops at the decode head's stride-8 (UPerNet: stride-4) logits, which ``encode_decode`` then resizes
    to the input exactly as here."""
    try:
        from segzoo.testing.mmseg import build_twin, load_config
    except ImportError:
        return []
    result = []
    for family, config in MMSEG.items():
        if quick and family != "pspnet":
            continue
        try:
            cfg = load_config(f"{family}/{config}")
        except (ImportError, FileNotFoundError):
            return []
        spec = importlib.import_module(_MMSEG_SPEC[family]).spec_from_mmseg(cfg.model.to_dict())
        entry = {
            "name": config,
            "architecture": spec["architecture"],
            "encoder": spec["encoder"],
            "num_classes": int(cfg.model.decode_head.num_classes),
            "options": spec["options"],
            "requires": spec["requires"],
            "weights": {"format": "mmseg"},
        }

        def resize(out, size, align=bool(cfg.model.decode_head.align_corners)):
            return torch.nn.functional.interpolate(out, size=size, mode="bilinear", align_corners=align)

        result.append(Twin(config.split("_4xb")[0], "mmseg", lambda cfg=cfg: build_twin(cfg), resize, entry))
    return result
