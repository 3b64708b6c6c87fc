"""Converter from torchvision's DeepLabV3 checkpoints to segzoo ``deeplabv3``."""

from __future__ import annotations

from typing import Any

import torch

from segzoo.hub.remap import build_meta_model, remap, torchvision_backbone_rule

#: torchvision DeepLabV3 (resnet and mobilenet_v3_large backbones): classifier = DeepLabHead, aux = FCNHead
DEEPLABV3_RULES: list[tuple[str, str]] = [
    ("classifier.0.", "decoder.aspp."),
    ("classifier.1.", "decoder.block.0."),
    ("classifier.2.", "decoder.block.1."),
    ("classifier.4.", "head.classifier."),
    ("aux_classifier.0.", "aux_head.block.0."),
    ("aux_classifier.1.", "aux_head.block.1."),
    ("aux_classifier.4.", "aux_head.classifier."),
]


def convert_torchvision_deeplabv3(
    state_dict: dict[str, torch.Tensor], entry: dict[str, Any]
) -> dict[str, torch.Tensor]:
    """torchvision ``deeplabv3_resnet50/101`` and ``deeplabv3_mobilenet_v3_large`` -> segzoo ``deeplabv3``."""
    model = build_meta_model(entry)
    rules = [torchvision_backbone_rule(model), *DEEPLABV3_RULES]
    return remap(state_dict, entry, rules, upstream="torchvision DeepLabV3", model=model)
