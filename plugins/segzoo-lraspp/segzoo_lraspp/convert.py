"""Converter from torchvision's ``lraspp_mobilenet_v3_large`` checkpoint to segzoo ``lraspp``."""

from __future__ import annotations

from typing import Any

import torch

from segzoo.hub.remap import build_meta_model, remap, torchvision_backbone_rule

LRASPP_RULES: list[tuple[str, str]] = [
    ("classifier.cbr.", "decoder.cbr."),
    ("classifier.scale.", "decoder.scale."),
    ("classifier.high_classifier.", "head.classifier."),
    ("classifier.low_classifier.", "head.low_classifier."),
]


def convert_torchvision_lraspp(state_dict: dict[str, torch.Tensor], entry: dict[str, Any]) -> dict[str, torch.Tensor]:
    """torchvision ``lraspp_mobilenet_v3_large`` -> segzoo ``lraspp`` (encoder ``tv_mobilenet_v3_large``)."""
    model = build_meta_model(entry)
    rules = [torchvision_backbone_rule(model), *LRASPP_RULES]
    return remap(state_dict, entry, rules, upstream="torchvision LR-ASPP", model=model)
