"""mmsegmentation's SegFormer (``MixVisionTransformer`` + ``SegformerHead``) -> segzoo ``segformer``.

mmseg's MiT is the same network as transformers' (and segzoo's ``mit_b*``) up to key names, with two differences
that segzoo expresses as options: every LayerNorm has eps 1e-6 (``layer_norm_eps``), and the head projects each
stage with a 1x1 conv-BN-ReLU instead of a linear layer (``projection="conv-bn-relu"``), at 256 channels for every
variant (``decoder_channels``). Its attention packs q, k, v in one ``in_proj`` (``nn.MultiheadAttention``) and its
Mix-FFN uses 1x1 convs where segzoo has linear layers; the converter splits and reshapes them. mmseg concatenates the
projected maps finest first, segzoo coarsest first: the converter reorders the fusion conv's input channels.
"""

from __future__ import annotations

import re
from typing import Any

import torch

from segzoo_transformers.mit import MIT_CONFIGS

#: mmseg ``MixVisionTransformer`` arguments segzoo's MiT has (anything else is refused)
_MIT_FIXED = {
    "in_channels": 3,
    "num_stages": 4,
    "patch_sizes": (7, 3, 3, 3),
    "strides": (4, 2, 2, 2),
    "sr_ratios": (8, 4, 2, 1),
    "out_indices": (0, 1, 2, 3),
    "mlp_ratio": 4,
    "qkv_bias": True,
}
_MMSEG_EPS = 1e-6
_MMSEG_CHANNELS = 256


def _encoder_name(backbone: dict) -> str:
    embed = int(backbone.get("embed_dims", 64))
    heads = tuple(backbone.get("num_heads", (1, 2, 4, 8)))
    widths = tuple(embed * h for h in heads)
    depths = tuple(backbone.get("num_layers", (3, 4, 6, 3)))
    for name, cfg in MIT_CONFIGS.items():
        if cfg.hidden_sizes == widths and cfg.depths == depths and cfg.num_attention_heads == heads:
            return name
    raise ValueError(f"MiT with widths {widths}, depths {depths} and heads {heads} is none of B0-B5")


def _check_backbone(backbone: dict) -> None:
    if backbone.get("type") != "MixVisionTransformer":
        raise ValueError(f"backbone {backbone.get('type')!r} is not mmseg's MixVisionTransformer")
    for key, expected in _MIT_FIXED.items():
        if key in backbone:
            value = tuple(backbone[key]) if isinstance(expected, tuple) else backbone[key]
            if value != expected:
                raise ValueError(f"MixVisionTransformer {key}={backbone[key]!r} is not supported ({expected!r} only)")
    norm = backbone.get("norm_cfg") or {"type": "LN", "eps": _MMSEG_EPS}
    if norm.get("type") != "LN" or float(norm.get("eps", 1e-5)) != _MMSEG_EPS:
        raise ValueError(f"MixVisionTransformer norm {norm!r}: only LayerNorm with eps 1e-6 is supported")
    if (backbone.get("act_cfg") or {"type": "GELU"}).get("type") != "GELU":
        raise ValueError(f"MixVisionTransformer activation {backbone['act_cfg']!r}: only GELU is supported")


def spec_from_mmseg(model_cfg: dict) -> dict:
    """segzoo's ``architecture``, ``encoder``, ``options`` and ``requires`` for an mmseg SegFormer ``cfg.model``."""
    if model_cfg.get("type", "EncoderDecoder") != "EncoderDecoder":
        raise ValueError(f"segmentor {model_cfg.get('type')!r} is not supported (EncoderDecoder only)")
    if model_cfg.get("neck") or model_cfg.get("auxiliary_head"):
        raise ValueError("SegFormer with a neck or an auxiliary head is not supported")
    backbone = model_cfg.get("backbone") or {}
    _check_backbone(backbone)
    encoder = _encoder_name(backbone)
    head = model_cfg.get("decode_head") or {}
    if head.get("type") != "SegformerHead":
        raise ValueError(f"decode head {head.get('type')!r} on MiT is not supported (SegformerHead only)")
    widths = list(MIT_CONFIGS[encoder].hidden_sizes)
    if list(head.get("in_channels", widths)) != widths or list(head.get("in_index", range(4))) != [0, 1, 2, 3]:
        raise ValueError("the SegFormer head must read the four MiT stages")
    if head.get("align_corners", False) or head.get("interpolate_mode", "bilinear") != "bilinear":
        raise ValueError("SegFormer head resizing other than bilinear with align_corners=False is not supported")
    if (head.get("norm_cfg") or {"type": "BN"}).get("type") not in ("BN", "SyncBN"):
        raise ValueError(f"SegFormer head norm {head['norm_cfg']!r}: only BatchNorm is supported")
    channels = int(head.get("channels", _MMSEG_CHANNELS))
    options: dict[str, Any] = {"projection": "conv-bn-relu", "layer_norm_eps": _MMSEG_EPS}
    if channels != MIT_CONFIGS[encoder].decoder_hidden_size:
        options["decoder_channels"] = channels
    if float(head.get("dropout_ratio", 0.1)) != 0.1:
        options["dropout"] = float(head["dropout_ratio"])
    return {"architecture": "segformer", "encoder": encoder, "options": options, "requires": "segzoo-transformers"}


_BLOCK = r"backbone\.layers\.(\d)\.1\.(\d+)\."
_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"backbone\.layers\.(\d)\.0\.projection\.(.+)"), r"encoder.stages.\1.patch_embeddings.proj.\2"),
    (re.compile(r"backbone\.layers\.(\d)\.0\.norm\.(.+)"), r"encoder.stages.\1.patch_embeddings.layer_norm.\2"),
    (re.compile(r"backbone\.layers\.(\d)\.2\.(.+)"), r"encoder.stages.\1.layer_norm.\2"),
    (re.compile(_BLOCK + r"norm1\.(.+)"), r"encoder.stages.\1.blocks.\2.layernorm_before.\3"),
    (re.compile(_BLOCK + r"norm2\.(.+)"), r"encoder.stages.\1.blocks.\2.layernorm_after.\3"),
    (re.compile(_BLOCK + r"attn\.attn\.out_proj\.(.+)"), r"encoder.stages.\1.blocks.\2.attention.o_proj.\3"),
    (
        re.compile(_BLOCK + r"attn\.sr\.(.+)"),
        r"encoder.stages.\1.blocks.\2.attention.sequence_reduction.sequence_reduction.\3",
    ),
    (
        re.compile(_BLOCK + r"attn\.norm\.(.+)"),
        r"encoder.stages.\1.blocks.\2.attention.sequence_reduction.layer_norm.\3",
    ),
    (re.compile(_BLOCK + r"ffn\.layers\.0\.(.+)"), r"encoder.stages.\1.blocks.\2.mlp.fc1.\3"),
    (re.compile(_BLOCK + r"ffn\.layers\.1\.(.+)"), r"encoder.stages.\1.blocks.\2.mlp.dwconv.dwconv.\3"),
    (re.compile(_BLOCK + r"ffn\.layers\.4\.(.+)"), r"encoder.stages.\1.blocks.\2.mlp.fc2.\3"),
    (re.compile(r"decode_head\.convs\.(\d)\.conv\.(.+)"), r"decoder.linear_projections.\1.0.\2"),
    (re.compile(r"decode_head\.convs\.(\d)\.bn\.(.+)"), r"decoder.linear_projections.\1.1.\2"),
    (re.compile(r"decode_head\.fusion_conv\.conv\.(.+)"), r"decoder.fuse.0.\1"),
    (re.compile(r"decode_head\.fusion_conv\.bn\.(.+)"), r"decoder.fuse.1.\1"),
    (re.compile(r"decode_head\.conv_seg\.(.+)"), r"head.classifier.\1"),
]
_IN_PROJ = re.compile(_BLOCK + r"attn\.attn\.in_proj_(weight|bias)")


def convert_mmseg(state_dict: dict[str, torch.Tensor], entry: dict) -> dict[str, torch.Tensor]:
    """An mmseg SegFormer checkpoint's ``state_dict`` -> segzoo ``segformer`` keys (any MiT-B0..B5 entry)."""
    out: dict[str, torch.Tensor] = {}
    for key, tensor in state_dict.items():
        packed = _IN_PROJ.fullmatch(key)
        if packed:
            stage, block, kind = packed.groups()
            prefix = f"encoder.stages.{stage}.blocks.{block}.attention"
            for name, part in zip(("q_proj", "k_proj", "v_proj"), tensor.chunk(3, dim=0)):
                out[f"{prefix}.{name}.{kind}"] = part
            continue
        for pattern, target in _RULES:
            if pattern.fullmatch(key):
                new = pattern.sub(target, key)
                if ".mlp.fc" in new and tensor.dim() == 4:  # 1x1 conv -> linear
                    tensor = tensor.flatten(1)
                out[new] = tensor
                break
        else:
            raise ValueError(f"unexpected key {key!r} in an mmseg SegFormer checkpoint")
    fuse = out.get("decoder.fuse.0.weight")
    if fuse is not None:  # mmseg concatenates the stages finest first, segzoo coarsest first
        out["decoder.fuse.0.weight"] = torch.cat(fuse.chunk(4, dim=1)[::-1], dim=1)
    return out
