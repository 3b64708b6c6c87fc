"""mmsegmentation's PSPNet (``PSPHead`` on a ResNet, auxiliary ``FCNHead``) -> segzoo ``pspnet``.

mmseg's ``PSPHead`` is segzoo's pyramid pooling decoder: pooled branches of ``channels`` each (segzoo gives each bin
``C / len(bins)`` channels, which is what every mmseg config uses), a 3x3 bottleneck to ``channels``, spatial dropout
and a 1x1 classifier. The only difference is the order of the bottleneck's input: mmseg concatenates the feature map
first, segzoo last; the converter reorders the bottleneck weight's input channels accordingly.

- :func:`spec_from_mmseg`: mmseg ``cfg.model`` (a dict) -> segzoo architecture, encoder, options, or ``ValueError``.
- :func:`convert_mmseg` (the ``mmseg:pspnet`` converter): an mmseg checkpoint's ``state_dict`` -> segzoo keys.
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
    reorder_input_channels,
    stage_channels,
)

_DEFAULT_SCALES = (1, 2, 3, 6)


def spec_from_mmseg(model_cfg: dict) -> dict:
    """segzoo's ``architecture``, ``encoder``, ``options`` and ``requires`` for an mmseg PSPNet ``cfg.model``."""
    check_segmentor(model_cfg)
    encoder, output_stride, encoder_options = encoder_from_mmseg(model_cfg.get("backbone") or {})
    head = model_cfg.get("decode_head") or {}
    if head.get("type") != "PSPHead":
        raise ValueError(f"decode head {head.get('type')!r} is not mmseg's PSPHead")
    check_conv_cfg(head, "decode head")
    in_channels = stage_channels(model_cfg["backbone"])[3]
    if head.get("in_index", -1) not in (-1, 3) or head.get("input_transform") is not None:
        raise ValueError("the PSP head must read the last ResNet stage only")
    if head.get("in_channels", in_channels) != in_channels:
        raise ValueError(f"PSPHead in_channels={head['in_channels']} differs from the last stage's {in_channels}")
    scales = tuple(int(s) for s in head.get("pool_scales", _DEFAULT_SCALES))
    channels = int(head["channels"])
    if in_channels % len(scales) or in_channels // len(scales) != channels:
        raise ValueError(
            f"PSPHead with {channels} channels per pooled branch on a {in_channels}-channel map is not "
            f"supported (segzoo gives each of the {len(scales)} bins {in_channels}//{len(scales)})"
        )
    align_corners = bool(head.get("align_corners", False))
    options: dict[str, Any] = {}
    if output_stride != 8:
        options["output_stride"] = output_stride
    if encoder_options:
        options["encoder_options"] = encoder_options
    if scales != _DEFAULT_SCALES:
        options["bins"] = list(scales)
    if channels != 512:
        options["psp_out_channels"] = channels
    if float(head.get("dropout_ratio", 0.1)) != 0.1:
        options["dropout"] = float(head["dropout_ratio"])
    if align_corners:
        options["align_corners"] = True
    if aux_dilation_from_mmseg(model_cfg, align_corners) not in (None, 1):
        raise ValueError("a dilated auxiliary FCN head is not supported on PSPNet")
    return {"architecture": "pspnet", "encoder": encoder, "options": options, "requires": "segzoo-pspnet"}


def convert_mmseg(state_dict: dict[str, torch.Tensor], entry: dict) -> dict[str, torch.Tensor]:
    """An mmseg PSPNet checkpoint's ``state_dict`` -> segzoo ``pspnet`` keys (``auxiliary_head.*`` dropped unless
    the entry's model has ``aux_head``)."""
    bins = (entry.get("options") or {}).get("bins", _DEFAULT_SCALES)
    rules = [
        (f"decode_head.psp_modules.{i}.1.{part}.", f"decoder.psp.blocks.{i}.pool.1.{index}.")
        for i in range(len(bins))
        for part, index in (("conv", 0), ("bn", 1))
    ]
    rules += [
        ("decode_head.bottleneck.conv.", "decoder.conv.0."),
        ("decode_head.bottleneck.bn.", "decoder.conv.1."),
        ("decode_head.conv_seg.", "head.classifier."),
    ]
    out, model = remap_mmseg(state_dict, entry, rules, upstream="mmseg PSPNet")
    blocks = model.decoder.psp.blocks
    sizes = [model.encoder.out_channels[-1]] + [block.pool[1][0].out_channels for block in blocks]
    key = "decoder.conv.0.weight"  # mmseg: [map, pooled...]; segzoo: [pooled..., map]
    out[key] = reorder_input_channels(out[key], sizes, [*range(1, len(sizes)), 0])
    return out
