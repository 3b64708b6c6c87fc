"""mmsegmentation's HRNet models (``configs/hrnet``: ``fcn_hr18s``, ``fcn_hr18``, ``fcn_hr48``) -> segzoo ``hrnet``.

:func:`spec_from_mmseg` reads an mmseg ``cfg.model`` (plain dict) and says which segzoo model it is, or raises
``ValueError`` for a variant segzoo does not build; :func:`convert_mmseg` renames an mmseg checkpoint's
``state_dict`` onto that model (registered as the ``mmseg:hrnet`` converter). :func:`hrnet_encoder_name` and
:data:`BACKBONE_RULE` are shared with segzoo-ocrnet, whose HRNet models use the same backbone.
"""

from __future__ import annotations

from typing import Any

import torch

from segzoo.hub.mmseg_resnet import check_conv_cfg
from segzoo.hub.remap import remap
from segzoo_hrnet.encoder import STEM_WIDTH, VARIANTS

#: mmseg's ``backbone.*`` keys are the encoder's own names.
BACKBONE_RULE = ("backbone.", "encoder.")

RULES = [
    BACKBONE_RULE,
    ("decode_head.convs.0.conv.", "decoder.fuse.0."),
    ("decode_head.convs.0.bn.", "decoder.fuse.1."),
    ("decode_head.conv_seg.", "head.classifier."),
]


def require(cfg: dict[str, Any], key: str, expected: Any, default: Any, what: str) -> None:
    """Raise ``ValueError`` when ``cfg[key]`` (``default`` when absent) is not ``expected``."""
    value = cfg.get(key, default)
    if isinstance(value, list):
        value = tuple(value)
    if value != expected:
        raise ValueError(f"{what} with {key}={value!r} is not supported (segzoo builds {expected!r})")


def mmseg_extra(name: str) -> dict[str, dict[str, Any]]:
    """mmseg's ``backbone.extra`` (stage1..stage4) for the segzoo encoder ``name``."""
    v = VARIANTS[name]
    extra = {
        "stage1": {
            "num_modules": 1,
            "num_branches": 1,
            "block": "BOTTLENECK",
            "num_blocks": (v.stem_blocks,),
            "num_channels": (STEM_WIDTH,),
        }
    }
    for branches, modules, blocks in zip((2, 3, 4), v.stage_modules, v.stage_blocks):
        extra[f"stage{branches}"] = {
            "num_modules": modules,
            "num_branches": branches,
            "block": "BASIC",
            "num_blocks": (blocks,) * branches,
            "num_channels": v.widths[:branches],
        }
    return extra


def _tuples(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return tuple(_tuples(v) for v in value)
    return value


def hrnet_encoder_name(backbone: dict[str, Any]) -> str:
    """The segzoo encoder (a key of ``segzoo_hrnet.encoder.VARIANTS``) of an mmseg ``HRNet`` backbone config."""
    if backbone.get("type") != "HRNet":
        raise ValueError(f"backbone {backbone.get('type')!r} is not an HRNet")
    check_conv_cfg(backbone, "HRNet")
    require(backbone, "in_channels", 3, 3, "HRNet")
    require(backbone, "multiscale_output", True, True, "HRNet")
    extra = _tuples(backbone.get("extra") or {})
    for name in VARIANTS:
        if extra == _tuples(mmseg_extra(name)):
            return name
    raise ValueError(f"HRNet backbone whose stages are none of segzoo's {sorted(VARIANTS)}")


def spec_from_mmseg(model_cfg: dict[str, Any]) -> dict[str, Any]:
    """segzoo's ``architecture``, ``encoder``, ``options`` and ``requires`` for mmseg's HRNet + FCN-head model."""
    require(model_cfg, "type", "EncoderDecoder", None, "segmentor")
    if model_cfg.get("auxiliary_head"):
        raise ValueError("HRNet with an auxiliary head (none of mmseg's HRNet checkpoints has one)")
    encoder = hrnet_encoder_name(model_cfg.get("backbone") or {})
    head = model_cfg.get("decode_head") or {}
    what = "HRNet decode head"
    require(head, "type", "FCNHead", None, what)
    require(head, "input_transform", "resize_concat", None, what)
    require(head, "in_index", (0, 1, 2, 3), -1, what)
    widths = VARIANTS[encoder].widths
    require(head, "in_channels", widths, None, what)
    require(head, "num_convs", 1, 2, what)
    require(head, "concat_input", False, True, what)
    require(head, "dilation", 1, 1, what)
    check_conv_cfg(head, what)
    options: dict[str, Any] = {}
    if head.get("channels") != sum(widths):
        options["channels"] = int(head["channels"])
    if head.get("kernel_size", 3) != 1:
        options["kernel_size"] = int(head.get("kernel_size", 3))
    if head.get("dropout_ratio", 0.1) > 0:
        options["dropout"] = float(head.get("dropout_ratio", 0.1))
    if head.get("align_corners", False):
        options["align_corners"] = True
    return {"architecture": "hrnet", "encoder": encoder, "options": options, "requires": "segzoo-hrnet"}


def convert_mmseg(state_dict: dict[str, torch.Tensor], entry: dict[str, Any]) -> dict[str, torch.Tensor]:
    """An mmseg HRNet checkpoint's ``state_dict`` -> segzoo ``hrnet`` keys (``auxiliary_head.*`` dropped)."""
    kept = {k: v for k, v in state_dict.items() if not k.startswith("auxiliary_head.")}
    return remap(kept, entry, RULES, upstream="mmsegmentation HRNet")
