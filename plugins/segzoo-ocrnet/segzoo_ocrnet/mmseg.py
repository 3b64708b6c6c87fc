"""mmsegmentation's OCRNet models (``configs/ocrnet``: HRNetV2 W18-Small/W18/W48 and R-101-D8) -> segzoo ``ocrnet``.

mmseg builds OCRNet as a ``CascadeEncoderDecoder`` whose ``decode_head`` is a list: ``[FCNHead, OCRHead]``. The
``FCNHead`` (soft object regions) becomes segzoo's ``aux_head``, the ``OCRHead`` the ``decoder`` and ``head``.

- :func:`spec_from_mmseg`: mmseg ``cfg.model`` (a dict) -> segzoo architecture, encoder, options, or ``ValueError``.
- :func:`convert_mmseg` (the ``mmseg:ocrnet`` converter): an mmseg checkpoint's ``state_dict`` -> segzoo keys.
"""

from __future__ import annotations

from typing import Any

import torch

from segzoo.hub.mmseg_resnet import backbone_rules, check_conv_cfg, encoder_from_mmseg, stage_channels
from segzoo.hub.remap import build_meta_model, remap
from segzoo_hrnet.encoder import VARIANTS
from segzoo_hrnet.mmseg import BACKBONE_RULE, hrnet_encoder_name, require

_CONV_MODULES = {  # mmseg ConvModule (conv + bn) -> segzoo ConvBNReLU (children 0 and 1)
    "decode_head.0.convs.0": "aux_head.block",
    "decode_head.1.bottleneck": "decoder.bottleneck",
    "decode_head.1.object_context_block.query_project.0": "decoder.object_context.query_project.0",
    "decode_head.1.object_context_block.query_project.1": "decoder.object_context.query_project.1",
    "decode_head.1.object_context_block.key_project.0": "decoder.object_context.key_project.0",
    "decode_head.1.object_context_block.key_project.1": "decoder.object_context.key_project.1",
    "decode_head.1.object_context_block.value_project": "decoder.object_context.value_project",
    "decode_head.1.object_context_block.out_project": "decoder.object_context.out_project",
    "decode_head.1.object_context_block.bottleneck": "decoder.object_context.bottleneck",
}
HEAD_RULES = [
    *(
        (f"{old}.{part}.", f"{new}.{index}.")
        for old, new in _CONV_MODULES.items()
        for part, index in (("conv", 0), ("bn", 1))
    ),
    ("decode_head.0.conv_seg.", "aux_head.classifier."),
    ("decode_head.1.conv_seg.", "head.classifier."),
]


def _encoder(backbone: dict[str, Any]) -> tuple[str, dict[str, Any], tuple[int, ...]]:
    """(segzoo encoder, its options in the spec, the four stages' channels) of an HRNet or ResNet backbone."""
    if backbone.get("type") == "HRNet":
        name = hrnet_encoder_name(backbone)
        return name, {}, VARIANTS[name].widths
    name, output_stride, encoder_options = encoder_from_mmseg(backbone)
    options: dict[str, Any] = {"output_stride": output_stride}
    if encoder_options:
        options["encoder_options"] = encoder_options
    return name, options, stage_channels(backbone)


def spec_from_mmseg(model_cfg: dict[str, Any]) -> dict[str, Any]:
    """segzoo's ``architecture``, ``encoder``, ``options`` and ``requires`` for an mmseg OCRNet ``cfg.model``."""
    require(model_cfg, "type", "CascadeEncoderDecoder", None, "OCRNet segmentor")
    require(model_cfg, "num_stages", 2, None, "OCRNet segmentor")
    if model_cfg.get("neck") or model_cfg.get("auxiliary_head"):
        raise ValueError("OCRNet with a neck or an auxiliary head (none of mmseg's OCRNet checkpoints has one)")
    encoder, options, stages = _encoder(model_cfg.get("backbone") or {})
    heads = model_cfg.get("decode_head")
    if not isinstance(heads, (list, tuple)) or [h.get("type") for h in heads] != ["FCNHead", "OCRHead"]:
        raise ValueError("OCRNet decode heads other than [FCNHead, OCRHead]")
    regions, ocr = heads
    for head, what in ((regions, "OCRNet region head"), (ocr, "OCR head")):
        check_conv_cfg(head, what)
    if ocr.get("input_transform") == "resize_concat":
        head_input, region_in, ocr_in = "concat", sum(stages), sum(stages)
        for head, what in ((regions, "OCRNet region head"), (ocr, "OCR head")):
            require(head, "in_index", tuple(range(len(stages))), -1, what)
            require(head, "in_channels", tuple(stages), None, what)
        require(regions, "input_transform", "resize_concat", None, "OCRNet region head")
    else:
        head_input, region_in, ocr_in = "last", stages[2], stages[3]
        require(ocr, "in_index", 3, -1, "OCR head")
        require(ocr, "input_transform", None, None, "OCR head")
        require(regions, "in_index", 2, -1, "OCRNet region head")
        require(regions, "input_transform", None, None, "OCRNet region head")
        require(ocr, "in_channels", ocr_in, None, "OCR head")
        require(regions, "in_channels", region_in, None, "OCRNet region head")
    require(regions, "num_convs", 1, 2, "OCRNet region head")
    require(regions, "concat_input", False, True, "OCRNet region head")
    require(regions, "dilation", 1, 1, "OCRNet region head")
    require(ocr, "scale", 1, 1, "OCR head")
    dropout = float(ocr.get("dropout_ratio", 0.1))
    require(regions, "dropout_ratio", dropout, 0.1, "OCRNet region head (its dropout differs from the OCR head's)")
    align_corners = bool(ocr.get("align_corners", False))
    require(regions, "align_corners", align_corners, False, "OCRNet region head (align_corners differs)")
    if head_input != "concat":
        options["head_input"] = head_input
    if int(regions["channels"]) != region_in:
        options["region_channels"] = int(regions["channels"])
    if regions.get("kernel_size", 3) != 1:
        options["region_kernel_size"] = int(regions.get("kernel_size", 3))
    if int(ocr["channels"]) != 512:
        options["ocr_channels"] = int(ocr["channels"])
    if int(ocr["ocr_channels"]) != 256:
        options["ocr_key_channels"] = int(ocr["ocr_channels"])
    if dropout > 0:
        options["dropout"] = dropout
    if align_corners:
        options["align_corners"] = True
    return {"architecture": "ocrnet", "encoder": encoder, "options": options, "requires": "segzoo-ocrnet"}


def convert_mmseg(state_dict: dict[str, torch.Tensor], entry: dict[str, Any]) -> dict[str, torch.Tensor]:
    """An mmseg OCRNet checkpoint's ``state_dict`` -> segzoo ``ocrnet`` keys."""
    model = build_meta_model(entry)
    if entry["encoder"] in VARIANTS:
        rules = [BACKBONE_RULE]
    else:
        rules = backbone_rules(getattr(model.encoder, "deep_stem", False))
    return remap(state_dict, entry, [*rules, *HEAD_RULES], upstream="mmsegmentation OCRNet", model=model)
