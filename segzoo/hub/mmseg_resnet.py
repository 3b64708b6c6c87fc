"""What mmsegmentation's ResNet-family models (FCN, PSPNet, DeepLabV3, DeepLabV3+, UPerNet) share: their backbone
config as a segzoo encoder, their auxiliary FCN head, and the checkpoint key rules for both.

Each family's ``spec_from_mmseg`` calls :func:`encoder_from_mmseg` and :func:`aux_dilation_from_mmseg` and adds its
decode head's options; each ``convert_mmseg`` calls :func:`remap_mmseg` with its decode head's key rules. Configs are
mmseg's ``cfg.model`` as plain dicts; anything segzoo does not build raises ``ValueError`` with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from segzoo.hub.remap import Rules, build_meta_model, remap

__all__ = [
    "aux_dilation_from_mmseg",
    "check_conv_cfg",
    "check_segmentor",
    "encoder_from_mmseg",
    "remap_mmseg",
    "reorder_input_channels",
    "stage_channels",
]

_STAGE_STRIDES = {(1, 2, 1, 1): 8, (1, 2, 2, 1): 16, (1, 2, 2, 2): 32}
_DEFAULT_DILATIONS = {8: (1, 1, 2, 4), 16: (1, 1, 1, 2), 32: (1, 1, 1, 1)}
_STAGE_CHANNELS = {18: (64, 128, 256, 512), 50: (256, 512, 1024, 2048), 101: (256, 512, 1024, 2048)}

#: auxiliary FCN head (one 3x3 ConvModule, dropout, 1x1) -> segzoo's AuxiliaryHead
AUX_RULES: list[tuple[str, str]] = [
    ("auxiliary_head.convs.0.conv.", "aux_head.block.0."),
    ("auxiliary_head.convs.0.bn.", "aux_head.block.1."),
    ("auxiliary_head.conv_seg.", "aux_head.classifier."),
]


def check_segmentor(model_cfg: dict) -> None:
    """The parts every supported config shares: an ``EncoderDecoder`` without neck."""
    if model_cfg.get("type", "EncoderDecoder") != "EncoderDecoder":
        raise ValueError(f"segmentor {model_cfg.get('type')!r} is not supported (EncoderDecoder only)")
    if model_cfg.get("neck"):
        raise ValueError(f"a neck ({model_cfg['neck'].get('type')}) between backbone and head is not supported")


def check_conv_cfg(cfg: dict, what: str) -> None:
    """Plain convolutions, BatchNorm (or SyncBN, the same at inference) and ReLU: the only layers segzoo builds."""
    norm = (cfg.get("norm_cfg") or {"type": "BN"}).get("type")
    if norm not in ("BN", "SyncBN"):
        raise ValueError(f"{what} normalisation {norm!r} is not supported (BatchNorm only)")
    act = (cfg.get("act_cfg") or {"type": "ReLU"}).get("type")
    if act != "ReLU":
        raise ValueError(f"{what} activation {act!r} is not supported (ReLU only)")
    if cfg.get("conv_cfg") is not None:
        raise ValueError(f"{what} conv_cfg {cfg['conv_cfg']!r} is not supported (plain convolutions only)")


def encoder_from_mmseg(backbone: dict) -> tuple[str, int, dict[str, Any]]:
    """mmseg ``ResNetV1c`` / ``ResNet`` config -> (segzoo encoder name, output stride, encoder options)."""
    kind = backbone.get("type")
    if kind not in ("ResNetV1c", "ResNet"):
        raise ValueError(f"backbone {kind!r} is not an mmseg ResNet (ResNetV1c or ResNet)")
    check_conv_cfg(backbone, "backbone")
    deep_stem = kind == "ResNetV1c" or bool(backbone.get("deep_stem", False))
    depth = backbone.get("depth")
    if depth not in _STAGE_CHANNELS:
        raise ValueError(f"ResNet depth {depth!r} is not supported (18, 50, 101)")
    for key, expected in (
        ("in_channels", 3),
        ("stem_channels", 64),
        ("base_channels", 64),
        ("num_stages", 4),
        ("style", "pytorch"),
        ("avg_down", False),
        ("dcn", None),
        ("plugins", None),
    ):
        if backbone.get(key, expected) != expected:
            raise ValueError(f"ResNet {key}={backbone[key]!r} is not supported (only {expected!r})")
    if tuple(backbone.get("out_indices", (0, 1, 2, 3))) != (0, 1, 2, 3):
        raise ValueError(f"ResNet out_indices={backbone['out_indices']!r}: only all four stages (0, 1, 2, 3)")
    strides = tuple(backbone.get("strides", (1, 2, 2, 2)))
    if strides not in _STAGE_STRIDES:
        raise ValueError(f"ResNet strides {list(strides)} are not supported (those of output stride 8, 16 or 32)")
    output_stride = _STAGE_STRIDES[strides]
    dilations = tuple(int(d) for d in backbone.get("dilations", (1, 1, 1, 1)))
    multi_grid = backbone.get("multi_grid")
    contracted = [d for i, d in enumerate(dilations) if d > 1 and not (multi_grid and i == 3)]
    if contracted and not backbone.get("contract_dilation", False):
        raise ValueError("ResNet with contract_dilation=False is not supported (mmseg's configs contract)")
    options: dict[str, Any] = {}
    if dilations != _DEFAULT_DILATIONS[output_stride]:
        options["dilations"] = list(dilations)
    if multi_grid:
        options["multi_grid"] = [int(d) for d in multi_grid]
    return f"resnet{depth}_v1{'c' if deep_stem else 'b'}", output_stride, options


def stage_channels(backbone: dict) -> tuple[int, ...]:
    """Channels of the four ResNet stages (mmseg's ``in_index`` 0..3)."""
    return _STAGE_CHANNELS[backbone["depth"]]


def aux_dilation_from_mmseg(model_cfg: dict, align_corners: bool) -> int | None:
    """Dilation of the auxiliary FCN head on ResNet stage 3 (None without one); ``ValueError`` for any other."""
    aux = model_cfg.get("auxiliary_head")
    if not aux:
        return None
    if isinstance(aux, list):
        raise ValueError("several auxiliary heads are not supported")
    if aux.get("type") != "FCNHead":
        raise ValueError(f"auxiliary head {aux.get('type')!r} is not supported (FCNHead only)")
    check_conv_cfg(aux, "auxiliary head")
    in_channels = stage_channels(model_cfg["backbone"])[2]
    expected = {
        "in_index": 2,
        "in_channels": in_channels,
        "channels": in_channels // 4,
        "num_convs": 1,
        "concat_input": False,
        "kernel_size": 3,
        "dropout_ratio": 0.1,
        "input_transform": None,
    }
    for key, value in expected.items():
        if aux.get(key, value) != value:
            raise ValueError(f"auxiliary FCNHead {key}={aux[key]!r} is not supported (expected {value!r})")
    if bool(aux.get("align_corners", False)) != align_corners:
        raise ValueError("auxiliary and decode heads with different align_corners are not supported")
    return int(aux.get("dilation", 1))


def backbone_rules(deep_stem: bool) -> list[tuple[str, str]]:
    """mmseg ResNet keys -> :class:`segzoo.nn.resnet_v1c.DilatedResNet` keys (the blocks share torchvision's names)."""
    stem = (
        [("backbone.stem.", "encoder.stem.")]
        if deep_stem
        else [("backbone.conv1.", "encoder.stem.0."), ("backbone.bn1.", "encoder.stem.1.")]
    )
    return [*stem, ("backbone.layer", "encoder.layer")]


def remap_mmseg(
    state_dict: dict[str, torch.Tensor], entry: dict[str, Any], head_rules: Rules, *, upstream: str
) -> tuple[dict[str, torch.Tensor], torch.nn.Module]:
    """Rename an mmseg checkpoint onto the entry's model (built on the meta device, also returned): backbone,
    ``head_rules`` for the decode head, and the auxiliary head, whose keys are dropped when the model has none."""
    model = build_meta_model(entry)
    if model.aux_head is None:
        state_dict = {k: v for k, v in state_dict.items() if not k.startswith("auxiliary_head.")}
    rules = [*backbone_rules(getattr(model.encoder, "deep_stem", False)), *head_rules, *AUX_RULES]
    return remap(state_dict, entry, rules, upstream=upstream, model=model), model


def reorder_input_channels(weight: torch.Tensor, sizes: Sequence[int], order: Sequence[int]) -> torch.Tensor:
    """A conv weight whose input is a concatenation of parts of ``sizes`` channels, for the parts in ``order``
    (mmseg concatenates the input map first where segzoo's PSP and ASPP modules put it last)."""
    parts = torch.split(weight, list(sizes), dim=1)
    return torch.cat([parts[i] for i in order], dim=1).contiguous()
