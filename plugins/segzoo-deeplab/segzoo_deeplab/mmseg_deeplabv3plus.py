"""mmsegmentation's DeepLabV3+ (``DepthwiseSeparableASPPHead`` on a ResNet, auxiliary ``FCNHead``) -> segzoo
``deeplabv3plus`` with ``mmseg_head=True`` (depthwise-separable ASPP branches and decoder convs).

- :func:`spec_from_mmseg`: mmseg ``cfg.model`` (a dict) -> segzoo architecture, encoder, options, or ``ValueError``.
- :func:`convert_mmseg` (the ``mmseg:deeplabv3plus`` converter): an mmseg checkpoint's ``state_dict`` -> segzoo keys.
"""

from __future__ import annotations

import torch

from segzoo.hub.mmseg_resnet import stage_channels

from segzoo_deeplab.mmseg_common import aspp_spec, convert_aspp, separable_rules


def spec_from_mmseg(model_cfg: dict) -> dict:
    """segzoo's ``architecture``, ``encoder``, ``options`` and ``requires`` for an mmseg DeepLabV3+ ``cfg.model``."""
    encoder, options, head = aspp_spec(model_cfg, "DepthwiseSeparableASPPHead", default_output_stride=16)
    low = stage_channels(model_cfg["backbone"])[0]
    if head.get("c1_in_channels") != low:
        raise ValueError(
            f"DeepLabV3+ c1_in_channels={head.get('c1_in_channels')!r}: segzoo's decoder fuses the "
            f"first ResNet stage ({low} channels)"
        )
    if int(head.get("c1_channels", 48)) != 48:
        options["low_channels"] = int(head["c1_channels"])
    return {"architecture": "deeplabv3plus", "encoder": encoder, "options": options, "requires": "segzoo-deeplab"}


def convert_mmseg(state_dict: dict[str, torch.Tensor], entry: dict) -> dict[str, torch.Tensor]:
    """An mmseg DeepLabV3+ checkpoint's ``state_dict`` -> segzoo ``deeplabv3plus`` keys (``auxiliary_head.*`` dropped
    unless the entry's model has ``aux_head``)."""
    rules = [
        ("decode_head.c1_bottleneck.conv.", "decoder.reduce.0."),
        ("decode_head.c1_bottleneck.bn.", "decoder.reduce.1."),
        *separable_rules("decode_head.sep_bottleneck.0", "decoder.block.0"),
        *separable_rules("decode_head.sep_bottleneck.1", "decoder.block.1"),
    ]
    return convert_aspp(state_dict, entry, rules, separable=True, upstream="mmseg DeepLabV3+")
