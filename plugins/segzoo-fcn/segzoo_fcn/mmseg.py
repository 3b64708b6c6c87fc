"""mmsegmentation's FCN (``FCNHead`` on a ResNet, auxiliary ``FCNHead``) -> segzoo ``fcn``.

mmseg's ``FCNHead`` (``num_convs`` conv-BN-ReLU, optionally dilated, and with ``concat_input`` one more over the
input and their output) is segzoo's ``fcn`` decoder with options; its FCN-D6 variants dilate both heads by 6 on an
output-stride-16 ResNet.

- :func:`spec_from_mmseg`: mmseg ``cfg.model`` (a dict) -> segzoo architecture, encoder, options, or ``ValueError``.
- :func:`convert_mmseg` (the ``mmseg:fcn`` converter): an mmseg checkpoint's ``state_dict`` -> segzoo keys.
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


def spec_from_mmseg(model_cfg: dict) -> dict:
    """segzoo's ``architecture``, ``encoder``, ``options`` and ``requires`` for an mmseg FCN ``cfg.model``."""
    check_segmentor(model_cfg)
    encoder, output_stride, encoder_options = encoder_from_mmseg(model_cfg.get("backbone") or {})
    head = model_cfg.get("decode_head") or {}
    if head.get("type") != "FCNHead":
        raise ValueError(f"decode head {head.get('type')!r} is not mmseg's FCNHead")
    check_conv_cfg(head, "decode head")
    in_channels = stage_channels(model_cfg["backbone"])[3]
    if head.get("in_index", -1) not in (-1, 3) or head.get("input_transform") is not None:
        raise ValueError("the FCN head must read the last ResNet stage only")
    if head.get("in_channels", in_channels) != in_channels:
        raise ValueError(f"FCNHead in_channels={head['in_channels']} differs from the last stage's {in_channels}")
    num_convs = int(head.get("num_convs", 2))
    if num_convs < 1:
        raise ValueError("FCNHead with num_convs=0 (no convolution before the classifier) is not supported")
    if float(head.get("dropout_ratio", 0.1)) != 0.1:
        raise ValueError(f"FCNHead dropout_ratio={head['dropout_ratio']} is not supported (0.1)")
    align_corners = bool(head.get("align_corners", False))
    options: dict[str, Any] = {}
    if output_stride != 8:
        options["output_stride"] = output_stride
    if encoder_options:
        options["encoder_options"] = encoder_options
    for option, value, default in (
        ("head_channels", int(head["channels"]), in_channels // 4),
        ("num_convs", num_convs, 1),
        ("kernel_size", int(head.get("kernel_size", 3)), 3),
        ("head_dilation", int(head.get("dilation", 1)), 1),
        ("concat_input", bool(head.get("concat_input", True)), False),
        ("aux_dilation", aux_dilation_from_mmseg(model_cfg, align_corners) or 1, 1),
        ("align_corners", align_corners, False),
    ):
        if value != default:
            options[option] = value
    return {"architecture": "fcn", "encoder": encoder, "options": options, "requires": "segzoo-fcn"}


def convert_mmseg(state_dict: dict[str, torch.Tensor], entry: dict) -> dict[str, torch.Tensor]:
    """An mmseg FCN checkpoint's ``state_dict`` -> segzoo ``fcn`` keys (``auxiliary_head.*`` dropped unless the
    entry's model has ``aux_head``)."""
    num_convs = int((entry.get("options") or {}).get("num_convs", 1))
    rules = [("decode_head.convs.0.conv.", "decoder.block.0."), ("decode_head.convs.0.bn.", "decoder.block.1.")]
    for i in range(1, num_convs):
        rules += [
            (f"decode_head.convs.{i}.conv.", f"decoder.convs.{i - 1}.0."),
            (f"decode_head.convs.{i}.bn.", f"decoder.convs.{i - 1}.1."),
        ]
    rules += [
        ("decode_head.conv_cat.conv.", "decoder.fuse.0."),
        ("decode_head.conv_cat.bn.", "decoder.fuse.1."),
        ("decode_head.conv_seg.", "head.classifier."),
    ]
    out, _ = remap_mmseg(state_dict, entry, rules, upstream="mmseg FCN")
    return out
