"""Converter from torchvision's FCN checkpoints (``fcn_resnet50``, ``fcn_resnet101``) to segzoo ``fcn``."""

from __future__ import annotations

from typing import Any

import torch

from segzoo.hub.remap import build_meta_model, remap, torchvision_backbone_rule

#: torchvision FCN: classifier = FCNHead(2048 -> 512 -> classes), aux_classifier = FCNHead(1024 -> 256 -> classes)
FCN_RULES: list[tuple[str, str]] = [
    ("classifier.0.", "decoder.block.0."),
    ("classifier.1.", "decoder.block.1."),
    ("classifier.4.", "head.classifier."),
    ("aux_classifier.0.", "aux_head.block.0."),
    ("aux_classifier.1.", "aux_head.block.1."),
    ("aux_classifier.4.", "aux_head.classifier."),
]


def convert_torchvision_fcn(state_dict: dict[str, torch.Tensor], entry: dict[str, Any]) -> dict[str, torch.Tensor]:
    """torchvision ``fcn_resnet50`` / ``fcn_resnet101`` -> segzoo ``fcn``."""
    model = build_meta_model(entry)
    rules = [torchvision_backbone_rule(model), *FCN_RULES]
    return remap(state_dict, entry, rules, upstream="torchvision FCN", model=model)
