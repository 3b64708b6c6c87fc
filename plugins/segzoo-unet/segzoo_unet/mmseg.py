"""mmsegmentation's U-Net (``UNet-S5-D16`` with an FCN, PSP or ASPP decode head) -> segzoo ``unet-original``.

mmseg's ``UNet`` backbone is the classic contracting path with BatchNorm (segzoo's ``unet-classic-bn`` encoder,
module for module) and an expanding path whose up-sampling is bilinear 2x then a 1x1 conv-BN-ReLU
(``upsampling="bilinear"``). Its decode head acts on the last, full-resolution 64-channel level; segzoo-unet carries
the three heads mmseg uses there (:mod:`segzoo_unet.heads`).

- :func:`spec_from_mmseg` turns mmseg's ``cfg.model`` (as a dict) into segzoo's architecture, encoder and options,
  or raises ``ValueError`` for a variant segzoo does not build.
- :func:`convert_mmseg` (the ``mmseg:unet-original`` converter) maps a checkpoint's ``state_dict`` onto segzoo keys.
"""

from __future__ import annotations

import re
from typing import Any

import torch

#: mmseg ``UNet`` arguments of the S5-D16 structure that segzoo builds (anything else is refused)
S5_D16 = {
    "in_channels": 3,
    "base_channels": 64,
    "num_stages": 5,
    "strides": (1, 1, 1, 1, 1),
    "enc_num_convs": (2, 2, 2, 2, 2),
    "dec_num_convs": (2, 2, 2, 2),
    "downsamples": (True, True, True, True),
    "enc_dilations": (1, 1, 1, 1, 1),
    "dec_dilations": (1, 1, 1, 1),
}
_HEADS = {"FCNHead": "fcn", "PSPHead": "psp", "ASPPHead": "aspp"}
_DEFAULT_CHANNELS = {"fcn": 64, "psp": 16, "aspp": 16}
_LEVELS = S5_D16["num_stages"]


def _same(value: Any, expected: Any) -> bool:
    if isinstance(expected, tuple):
        return isinstance(value, (list, tuple)) and tuple(value) == expected
    return value == expected


def _check_backbone(backbone: dict) -> None:
    if backbone.get("type") != "UNet":
        raise ValueError(f"backbone {backbone.get('type')!r} is not mmseg's UNet")
    for key, expected in S5_D16.items():
        if key in backbone and not _same(backbone[key], expected):
            raise ValueError(f"UNet {key}={backbone[key]!r}: only the S5-D16 structure ({expected!r}) is supported")
    if (backbone.get("norm_cfg") or {"type": "BN"}).get("type") not in ("BN", "SyncBN"):
        raise ValueError(f"UNet norm {backbone['norm_cfg']!r}: only BatchNorm is supported")
    if (backbone.get("act_cfg") or {"type": "ReLU"}).get("type") != "ReLU":
        raise ValueError(f"UNet activation {backbone['act_cfg']!r}: only ReLU is supported")
    if backbone.get("conv_cfg") is not None or backbone.get("dcn") or backbone.get("plugins"):
        raise ValueError("UNet with custom convolutions, DCN or plugins is not supported")
    upsample = backbone.get("upsample_cfg") or {"type": "InterpConv"}
    if upsample != {"type": "InterpConv"}:
        raise ValueError(f"UNet upsample_cfg {upsample!r}: only the default InterpConv is supported")


def _check_fcn(head: dict, *, in_index: int, in_channels: int, channels: int, what: str) -> None:
    expected = {
        "num_convs": 1,
        "kernel_size": 3,
        "dilation": 1,
        "concat_input": False,
        "in_index": in_index,
        "in_channels": in_channels,
        "channels": channels,
    }
    for key, value in expected.items():
        if key in head and head[key] != value:
            raise ValueError(f"{what} FCNHead {key}={head[key]!r} is not supported on the U-Net (expected {value!r})")


def _head_options(head: dict) -> dict:
    kind = _HEADS.get(head.get("type"))
    if kind is None:
        raise ValueError(f"decode head {head.get('type')!r} on the U-Net is not supported (FCN, PSP or ASPP)")
    if head.get("input_transform") is not None or head.get("in_index", -1) not in (-1, _LEVELS - 1):
        raise ValueError("the U-Net decode head must read the last decoder level only")
    if head.get("in_channels", 64) != 64:
        raise ValueError(f"decode head in_channels={head['in_channels']}: the U-Net's last level has 64")
    channels = int(head.get("channels", _DEFAULT_CHANNELS[kind]))
    options: dict[str, Any] = {"decode_head": kind}
    if kind == "fcn":
        _check_fcn(head, in_index=head.get("in_index", -1), in_channels=64, channels=channels, what="decode")
    if channels != _DEFAULT_CHANNELS[kind]:
        options["head_channels"] = channels
    if kind == "psp" and tuple(head.get("pool_scales", (1, 2, 3, 6))) != (1, 2, 3, 6):
        options["pool_scales"] = [int(s) for s in head["pool_scales"]]
    if kind == "aspp":  # mmseg's default is (1, 6, 12, 18); the U-Net configs all use (1, 12, 24, 36)
        dilations = tuple(head.get("dilations", (1, 6, 12, 18)))
        if dilations != (1, 12, 24, 36):
            options["dilations"] = [int(d) for d in dilations]
    if float(head.get("dropout_ratio", 0.1)) != 0.1:
        options["head_dropout"] = float(head["dropout_ratio"])
    if head.get("align_corners", False):
        options["align_corners"] = True
    return options


def spec_from_mmseg(model_cfg: dict) -> dict:
    """segzoo's ``architecture``, ``encoder``, ``options`` and ``requires`` for an mmseg U-Net ``cfg.model``."""
    if model_cfg.get("type", "EncoderDecoder") != "EncoderDecoder":
        raise ValueError(f"segmentor {model_cfg.get('type')!r} is not supported (EncoderDecoder only)")
    if model_cfg.get("neck"):
        raise ValueError("a neck between the U-Net and its head is not supported")
    _check_backbone(model_cfg.get("backbone") or {})
    options: dict[str, Any] = {"upsampling": "bilinear", **_head_options(model_cfg.get("decode_head") or {})}
    aux = model_cfg.get("auxiliary_head")
    if isinstance(aux, list):
        raise ValueError("several auxiliary heads are not supported")
    if aux:
        if aux.get("type") != "FCNHead":
            raise ValueError(f"auxiliary head {aux.get('type')!r} on the U-Net is not supported (FCN only)")
        _check_fcn(aux, in_index=_LEVELS - 2, in_channels=128, channels=64, what="auxiliary")
        if bool(aux.get("align_corners", False)) != bool(options.get("align_corners", False)):
            raise ValueError("auxiliary and decode heads with different align_corners are not supported")
    return {
        "architecture": "unet-original",
        "encoder": "unet-classic-bn",
        "options": options,
        "requires": "segzoo-unet",
    }


# mmseg key (regex) -> segzoo key; ConvModule's ``conv``/``bn`` become ConvBNReLU's ``0``/``1``
_RULES: list[tuple[re.Pattern[str], Any]] = [
    (
        re.compile(r"backbone\.encoder\.0\.0\.convs\.(\d)\.(conv|bn)\.(.+)"),
        lambda m: f"encoder.stages.0.{_double(m[1], m[2])}.{m[3]}",
    ),
    (
        re.compile(r"backbone\.encoder\.(\d)\.1\.convs\.(\d)\.(conv|bn)\.(.+)"),
        lambda m: f"encoder.stages.{m[1]}.1.{_double(m[2], m[3])}.{m[4]}",
    ),
    (
        re.compile(r"backbone\.decoder\.(\d)\.conv_block\.convs\.(\d)\.(conv|bn)\.(.+)"),
        lambda m: f"decoder.blocks.{_level(m[1])}.{_double(m[2], m[3])}.{m[4]}",
    ),
    (
        re.compile(r"backbone\.decoder\.(\d)\.upsample\.interp_upsample\.1\.(conv|bn)\.(.+)"),
        lambda m: f"decoder.ups.{_level(m[1])}.1.{_cbr(m[2])}.{m[3]}",
    ),
    (re.compile(r"decode_head\.conv_seg\.(.+)"), lambda m: f"head.classifier.{m[1]}"),
    (re.compile(r"decode_head\.convs\.(\d+)\.(conv|bn)\.(.+)"), lambda m: f"head.convs.{m[1]}.{_cbr(m[2])}.{m[3]}"),
    (
        re.compile(r"decode_head\.psp_modules\.(\d+)\.1\.(conv|bn)\.(.+)"),
        lambda m: f"head.pools.{m[1]}.1.{_cbr(m[2])}.{m[3]}",
    ),
    (re.compile(r"decode_head\.image_pool\.1\.(conv|bn)\.(.+)"), lambda m: f"head.image_pool.1.{_cbr(m[1])}.{m[2]}"),
    (
        re.compile(r"decode_head\.aspp_modules\.(\d+)\.(conv|bn)\.(.+)"),
        lambda m: f"head.branches.{m[1]}.{_cbr(m[2])}.{m[3]}",
    ),
    (re.compile(r"decode_head\.bottleneck\.(conv|bn)\.(.+)"), lambda m: f"head.bottleneck.{_cbr(m[1])}.{m[2]}"),
    (re.compile(r"auxiliary_head\.convs\.0\.(conv|bn)\.(.+)"), lambda m: f"aux_head.block.{_cbr(m[1])}.{m[2]}"),
    (re.compile(r"auxiliary_head\.conv_seg\.(.+)"), lambda m: f"aux_head.classifier.{m[1]}"),
]


def _cbr(part: str) -> str:
    return "0" if part == "conv" else "1"


def _double(index: str, part: str) -> str:
    """ConvModule ``k`` of a two-conv block -> ``DoubleConv``'s ``conv{k+1}`` / ``norm{k+1}``."""
    return f"{'conv' if part == 'conv' else 'norm'}{int(index) + 1}"


def _level(index: str) -> int:
    """mmseg's ``decoder.{j}`` upsamples level ``j + 1``; segzoo numbers the expanding path from the deepest level."""
    return _LEVELS - 2 - int(index)


def convert_mmseg(state_dict: dict[str, torch.Tensor], entry: dict) -> dict[str, torch.Tensor]:
    """An mmseg U-Net checkpoint's ``state_dict`` -> segzoo ``unet-original`` keys (``auxiliary_head.*`` dropped unless
    the entry's options ask for ``aux_head``)."""
    keep_aux = bool((entry.get("options") or {}).get("aux_head", False))
    out: dict[str, torch.Tensor] = {}
    for key, tensor in state_dict.items():
        if key.startswith("auxiliary_head.") and not keep_aux:
            continue
        for pattern, target in _RULES:
            match = pattern.fullmatch(key)
            if match:
                out[target(match)] = tensor
                break
        else:
            raise ValueError(f"unexpected key {key!r} in an mmseg U-Net checkpoint; is it a UNet-S5-D16 model?")
    return out
