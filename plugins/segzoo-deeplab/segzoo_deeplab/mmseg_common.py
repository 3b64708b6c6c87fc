"""What mmseg's DeepLabV3 (``ASPPHead``) and DeepLabV3+ (``DepthwiseSeparableASPPHead``) conversions share: the ASPP
options of a decode head config and the ASPP key rules (segzoo ``mmseg_head`` layout)."""

from __future__ import annotations

from typing import Any

import torch

from segzoo.hub.mmseg_resnet import (
    aux_dilation_from_mmseg,
    check_conv_cfg,
    check_segmentor,
    encoder_from_mmseg,
    remap_mmseg,
    reorder_input_channels,
    stage_channels,
)

from segzoo_deeplab.model import DEFAULT_RATES


def aspp_spec(model_cfg: dict, head_type: str, *, default_output_stride: int) -> tuple[str, dict[str, Any], dict]:
    """(encoder, options, decode head config) shared by both families; ``ValueError`` for what segzoo lacks."""
    check_segmentor(model_cfg)
    encoder, output_stride, encoder_options = encoder_from_mmseg(model_cfg.get("backbone") or {})
    head = model_cfg.get("decode_head") or {}
    if head.get("type") != head_type:
        raise ValueError(f"decode head {head.get('type')!r} is not mmseg's {head_type}")
    check_conv_cfg(head, "decode head")
    in_channels = stage_channels(model_cfg["backbone"])[3]
    if head.get("in_index", -1) not in (-1, 3) or head.get("input_transform") is not None:
        raise ValueError(f"the {head_type} must read the last ResNet stage")
    if head.get("in_channels", in_channels) != in_channels:
        raise ValueError(f"{head_type} in_channels={head['in_channels']} differs from the last stage's {in_channels}")
    dilations = [int(d) for d in head.get("dilations", (1, 6, 12, 18))]
    if dilations[0] != 1 or 1 in dilations[1:]:
        raise ValueError(f"ASPP dilations {dilations}: segzoo's ASPP has one 1x1 branch, first")
    if output_stride not in DEFAULT_RATES:
        raise ValueError(f"DeepLab on an output-stride-{output_stride} ResNet is not supported (8 or 16)")
    if float(head.get("dropout_ratio", 0.1)) != 0.1:
        raise ValueError(f"{head_type} dropout_ratio={head['dropout_ratio']} is not supported (0.1)")
    align_corners = bool(head.get("align_corners", False))
    if aux_dilation_from_mmseg(model_cfg, align_corners) not in (None, 1):
        raise ValueError("a dilated auxiliary FCN head is not supported on DeepLab")
    options: dict[str, Any] = {}
    if output_stride != default_output_stride:
        options["output_stride"] = output_stride
    if encoder_options:
        options["encoder_options"] = encoder_options
    if tuple(dilations[1:]) != DEFAULT_RATES[output_stride]:
        options["atrous_rates"] = dilations[1:]
    if int(head["channels"]) != 256:
        options["aspp_channels"] = int(head["channels"])
    options["mmseg_head"] = True
    if align_corners:
        options["align_corners"] = True
    return encoder, options, head


def _conv_rules(mmseg: str, segzoo: str, separable: bool) -> list[tuple[str, str]]:
    if separable:
        return [
            (f"{mmseg}.depthwise_conv.conv.", f"{segzoo}.0."),
            (f"{mmseg}.depthwise_conv.bn.", f"{segzoo}.1."),
            (f"{mmseg}.pointwise_conv.conv.", f"{segzoo}.3."),
            (f"{mmseg}.pointwise_conv.bn.", f"{segzoo}.4."),
        ]
    return [(f"{mmseg}.conv.", f"{segzoo}.0."), (f"{mmseg}.bn.", f"{segzoo}.1.")]


def convert_aspp(
    state_dict: dict[str, torch.Tensor],
    entry: dict,
    extra_rules: list[tuple[str, str]],
    *,
    separable: bool,
    upstream: str,
) -> dict[str, torch.Tensor]:
    """Rename the ASPP (``image_pool``, ``aspp_modules``, ``bottleneck``), ``conv_seg`` and ``extra_rules``; reorder
    the projection's input channels (mmseg: pooling branch first; segzoo: last)."""
    rates = (entry.get("options") or {}).get("atrous_rates") or DEFAULT_RATES[16]  # every default has three
    n = len(rates) + 1  # the 1x1 branch and one per rate
    rules = _conv_rules("decode_head.aspp_modules.0", "decoder.aspp.convs.0", False)
    for i in range(1, n):
        rules += _conv_rules(f"decode_head.aspp_modules.{i}", f"decoder.aspp.convs.{i}", separable)
    rules += [
        ("decode_head.image_pool.1.conv.", f"decoder.aspp.convs.{n}.1."),
        ("decode_head.image_pool.1.bn.", f"decoder.aspp.convs.{n}.2."),
        *_conv_rules("decode_head.bottleneck", "decoder.aspp.project", False),
        ("decode_head.conv_seg.", "head.classifier."),
        *extra_rules,
    ]
    out, model = remap_mmseg(state_dict, entry, rules, upstream=upstream)
    key = "decoder.aspp.project.0.weight"
    channels = model.decoder.aspp.project[0].out_channels
    out[key] = reorder_input_channels(out[key], [channels] * (n + 1), [*range(1, n + 1), 0])
    return out


def separable_rules(mmseg: str, segzoo: str) -> list[tuple[str, str]]:
    return _conv_rules(mmseg, segzoo, True)
