"""mmsegmentation's UPerNet on a ResNet (``UPerHead``, auxiliary ``FCNHead``) -> segzoo ``upernet``.

mmseg's ``UPerHead`` is segzoo's UPerNet decoder module for module (transformers ported it from mmseg); the ResNet
configs only add ``align_corners`` (True in the 769x769 Cityscapes ones). The backbone is ResNetV1c at output
stride 32, so ``upernet`` reads its four stages.

- :func:`spec_from_mmseg`: mmseg ``cfg.model`` (a dict) -> segzoo architecture, encoder, options, or ``ValueError``.
- :func:`convert_mmseg` (the ``mmseg:upernet`` converter): an mmseg checkpoint's ``state_dict`` -> segzoo keys.
"""

from __future__ import annotations

from typing import Any

import torch

from segzoo.hub.mmseg_resnet import (
    aux_dilation_from_mmseg,
    check_conv_cfg,
    check_segmentor,
    encoder_from_mmseg,
    remap_mmseg,
    stage_channels,
)

_DEFAULT_SCALES = (1, 2, 3, 6)


def spec_from_mmseg(model_cfg: dict) -> dict:
    """segzoo's ``architecture``, ``encoder``, ``options`` and ``requires`` for an mmseg ResNet UPerNet config."""
    check_segmentor(model_cfg)
    backbone = model_cfg.get("backbone") or {}
    encoder, output_stride, encoder_options = encoder_from_mmseg(backbone)
    if output_stride != 32 or encoder_options:
        raise ValueError("UPerNet on a dilated ResNet is not supported (segzoo's reads an output-stride-32 pyramid)")
    head = model_cfg.get("decode_head") or {}
    if head.get("type") != "UPerHead":
        raise ValueError(f"decode head {head.get('type')!r} is not mmseg's UPerHead")
    check_conv_cfg(head, "decode head")
    channels = list(stage_channels(backbone))
    if list(head.get("in_index", (0, 1, 2, 3))) != [0, 1, 2, 3] or head.get("input_transform", None) not in (
        None,
        "multiple_select",
    ):
        raise ValueError("the UPerHead must read all four ResNet stages (in_index 0..3, multiple_select)")
    if list(head.get("in_channels", channels)) != channels:
        raise ValueError(f"UPerHead in_channels={head['in_channels']} differ from the stages' {channels}")
    align_corners = bool(head.get("align_corners", False))
    options: dict[str, Any] = {}
    if int(head.get("channels", 512)) != 512:
        options["channels"] = int(head["channels"])
    if tuple(head.get("pool_scales", _DEFAULT_SCALES)) != _DEFAULT_SCALES:
        options["pool_scales"] = [int(s) for s in head["pool_scales"]]
    if float(head.get("dropout_ratio", 0.1)) != 0.1:
        options["dropout"] = float(head["dropout_ratio"])
    if aux_dilation_from_mmseg(model_cfg, align_corners) not in (None, 1):
        raise ValueError("a dilated auxiliary FCN head is not supported on UPerNet")
    if model_cfg.get("auxiliary_head") and channels[2] // 4 != 256:
        options["aux_channels"] = channels[2] // 4
    if align_corners:
        options["align_corners"] = True
    return {"architecture": "upernet", "encoder": encoder, "options": options, "requires": "segzoo-transformers"}


def _cbr(mmseg: str, segzoo: str) -> list[tuple[str, str]]:
    return [(f"{mmseg}.conv.", f"{segzoo}.0."), (f"{mmseg}.bn.", f"{segzoo}.1.")]


def convert_mmseg(state_dict: dict[str, torch.Tensor], entry: dict) -> dict[str, torch.Tensor]:
    """An mmseg ResNet UPerNet checkpoint's ``state_dict`` -> segzoo ``upernet`` keys (``auxiliary_head.*`` dropped
    unless the entry's model has ``aux_head``)."""
    scales = (entry.get("options") or {}).get("pool_scales", _DEFAULT_SCALES)
    rules = [r for i in range(len(scales)) for r in _cbr(f"decode_head.psp_modules.{i}.1", f"decoder.ppm.blocks.{i}.1")]
    rules += _cbr("decode_head.bottleneck", "decoder.bottleneck")
    for i in range(3):
        rules += _cbr(f"decode_head.lateral_convs.{i}", f"decoder.lateral_convs.{i}")
        rules += _cbr(f"decode_head.fpn_convs.{i}", f"decoder.fpn_convs.{i}")
    rules += [
        *_cbr("decode_head.fpn_bottleneck", "decoder.fpn_bottleneck"),
        ("decode_head.conv_seg.", "head.classifier."),
    ]
    out, _ = remap_mmseg(state_dict, entry, rules, upstream="mmseg UPerNet")
    return out
