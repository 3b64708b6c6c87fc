"""Hugging Face transformers checkpoints -> segzoo state dicts, and transformers ``config.json`` -> ``segzoo.create``
arguments.

Key mappings (``{i}`` stage, ``{j}`` block):

SegFormer (``SegformerForSemanticSegmentation``; Hub files use transformers 4's names, transformers >= 5 renames them
in memory -- both are accepted)::

    segformer.encoder.patch_embeddings.{i}.*        | segformer.stages.{i}.patch_embeddings.*   -> encoder.stages.{i}.patch_embeddings.*
    segformer.encoder.block.{i}.{j}.layer_norm_1.*  | segformer.stages.{i}.blocks.{j}.layernorm_before.* -> encoder.stages.{i}.blocks.{j}.layernorm_before.*
      .attention.self.{query,key,value}.*           | .attention.{q,k,v}_proj.*                  -> .attention.{q,k,v}_proj.*
      .attention.self.sr.* / .attention.self.layer_norm.* -> .attention.sequence_reduction.{sequence_reduction,layer_norm}.*
      .attention.output.dense.*                     | .attention.o_proj.*                        -> .attention.o_proj.*
      .layer_norm_2.* -> .layernorm_after.*;  .mlp.dense1/.mlp.dense2 -> .mlp.fc1/.mlp.fc2;  .mlp.dwconv.dwconv.* (same)
    segformer.encoder.layer_norm.{i}.*              | segformer.stages.{i}.layer_norm.*          -> encoder.stages.{i}.layer_norm.*
    decode_head.linear_c.{i}.proj.*                 | decode_head.linear_projections.{i}.proj.*  -> decoder.linear_projections.{i}.proj.*
    decode_head.linear_fuse.weight -> decoder.fuse.0.weight;  decode_head.batch_norm.* -> decoder.fuse.1.*
    decode_head.classifier.* -> head.classifier.*

UPerNet + ConvNeXt (``UperNetForSemanticSegmentation`` with a ``ConvNextBackbone``)::

    backbone.embeddings.patch_embeddings.* -> encoder.body.stem_0.*;  backbone.embeddings.layernorm.* -> encoder.body.stem_1.*
    backbone.encoder.stages.{i}.downsampling_layer.{k}.* -> encoder.body.stages_{i}.downsample.{k}.*
    backbone.encoder.stages.{i}.layers.{j}.{dwconv,layernorm,pwconv1,pwconv2,layer_scale_parameter}
        -> encoder.body.stages_{i}.blocks.{j}.{conv_dw,norm,mlp.fc1,mlp.fc2,gamma}
    backbone.hidden_states_norms.stage{k}.* -> encoder.norms.{k-1}.*
    decode_head.psp_modules.{i}.1.{conv,batch_norm}.* -> decoder.ppm.blocks.{i}.1.{0,1}.*
    decode_head.{bottleneck,fpn_bottleneck}.{conv,batch_norm}.* -> decoder.{bottleneck,fpn_bottleneck}.{0,1}.*
    decode_head.{lateral_convs,fpn_convs}.{i}.{conv,batch_norm}.* -> decoder.{lateral_convs,fpn_convs}.{i}.{0,1}.*
    decode_head.classifier.* -> head.classifier.*
    auxiliary_head.convs.0.{conv,batch_norm}.* -> aux_head.block.{0,1}.*;  auxiliary_head.classifier.* -> aux_head.classifier.*
    (auxiliary_head.* is dropped when the entry's options do not ask for ``aux_head``)
"""

from __future__ import annotations

import re
from typing import Any

import torch

from segzoo.errors import ConfigurationError, WeightsError
from segzoo.hub.fit import fit_state_dict
from segzoo.hub.remap import build_meta_model

from segzoo_transformers.mit import MIT_CONFIGS
from segzoo_transformers.segformer_keys import mit_encoder_state_dict, segformer_v5_name

__all__ = [
    "class_names_from_config",
    "convert_segformer",
    "convert_upernet",
    "create_kwargs_from_config",
    "mit_encoder_state_dict",
]

# -- SegFormer -----------------------------------------------------------------------------------------------------
# transformers 5 names (segformer_keys renames transformers 4's) of the decode head's fusion conv and classifier
_SEGFORMER_HEAD = {
    "decode_head.linear_fuse.weight": "decoder.fuse.0.weight",
    "decode_head.classifier.weight": "head.classifier.weight",
    "decode_head.classifier.bias": "head.classifier.bias",
}


def convert_segformer(
    state_dict: dict[str, torch.Tensor], entry: dict[str, Any], target: torch.nn.Module | None = None
) -> dict[str, torch.Tensor]:
    """transformers ``SegformerForSemanticSegmentation`` (either naming) -> segzoo ``segformer`` with a ``mit_b*``;
    ``target``: the model being loaded (segzoo.load passes it), else the entry's model built on meta."""
    if entry.get("encoder") not in MIT_CONFIGS:
        raise WeightsError(
            f"transformers SegFormer checkpoints hold a MiT encoder; the entry names encoder {entry.get('encoder')!r}, "
            f"use one of {sorted(MIT_CONFIGS)}"
        )
    out: dict[str, torch.Tensor] = {}
    unknown = []
    for key, value in state_dict.items():
        name = segformer_v5_name(key)
        if name.startswith("segformer.stages."):
            out["encoder." + name[len("segformer.") :]] = value
        elif name.startswith("decode_head.linear_projections."):
            out["decoder." + name[len("decode_head.") :]] = value
        elif name.startswith("decode_head.batch_norm."):
            out["decoder.fuse.1." + name[len("decode_head.batch_norm.") :]] = value
        elif name in _SEGFORMER_HEAD:
            out[_SEGFORMER_HEAD[name]] = value
        else:
            unknown.append(key)
    return _fit(out, unknown, "SegFormer", entry, target)


# -- UPerNet + ConvNeXt --------------------------------------------------------------------------------------------
_CONVNEXT_LAYER = {
    "dwconv": "conv_dw",
    "layernorm": "norm",
    "pwconv1": "mlp.fc1",
    "pwconv2": "mlp.fc2",
    "layer_scale_parameter": "gamma",
}
_CONV_MODULE = {"conv": "0", "batch_norm": "1"}


def _convnext_backbone_name(key: str) -> str | None:
    if key.startswith("backbone.embeddings.patch_embeddings."):
        return "encoder.body.stem_0." + key.rsplit(".", 1)[1]
    if key.startswith("backbone.embeddings.layernorm."):
        return "encoder.body.stem_1." + key.rsplit(".", 1)[1]
    m = re.match(r"^backbone\.encoder\.stages\.(\d+)\.downsampling_layer\.(\d+)\.(\w+)$", key)
    if m:
        return f"encoder.body.stages_{m[1]}.downsample.{m[2]}.{m[3]}"
    m = re.match(r"^backbone\.encoder\.stages\.(\d+)\.layers\.(\d+)\.(\w+)(?:\.(\w+))?$", key)
    if m and m[3] in _CONVNEXT_LAYER:
        tail = "" if m[4] is None else "." + m[4]
        return f"encoder.body.stages_{m[1]}.blocks.{m[2]}.{_CONVNEXT_LAYER[m[3]]}{tail}"
    m = re.match(r"^backbone\.hidden_states_norms\.stage(\d+)\.(\w+)$", key)
    if m:
        return f"encoder.norms.{int(m[1]) - 1}.{m[2]}"
    return None


def _upernet_head_name(key: str) -> str | None:
    m = re.match(r"^decode_head\.psp_modules\.(\d+)\.1\.(conv|batch_norm)\.(\w+)$", key)
    if m:
        return f"decoder.ppm.blocks.{m[1]}.1.{_CONV_MODULE[m[2]]}.{m[3]}"
    m = re.match(r"^decode_head\.(bottleneck|fpn_bottleneck)\.(conv|batch_norm)\.(\w+)$", key)
    if m:
        return f"decoder.{m[1]}.{_CONV_MODULE[m[2]]}.{m[3]}"
    m = re.match(r"^decode_head\.(lateral_convs|fpn_convs)\.(\d+)\.(conv|batch_norm)\.(\w+)$", key)
    if m:
        return f"decoder.{m[1]}.{m[2]}.{_CONV_MODULE[m[3]]}.{m[4]}"
    m = re.match(r"^(decode_head|auxiliary_head)\.classifier\.(weight|bias)$", key)
    if m:
        return f"{'head' if m[1] == 'decode_head' else 'aux_head'}.classifier.{m[2]}"
    m = re.match(r"^auxiliary_head\.convs\.0\.(conv|batch_norm)\.(\w+)$", key)
    if m:
        return f"aux_head.block.{_CONV_MODULE[m[1]]}.{m[2]}"
    return None


def convert_upernet(
    state_dict: dict[str, torch.Tensor], entry: dict[str, Any], target: torch.nn.Module | None = None
) -> dict[str, torch.Tensor]:
    """transformers ``UperNetForSemanticSegmentation`` with a ConvNeXt backbone -> segzoo ``upernet``;
    ``target`` as for :func:`convert_segformer`."""
    options = entry.get("options", {})
    encoder = str(entry.get("encoder", ""))
    if not encoder.startswith("convnext"):
        raise WeightsError(
            f"the transformers UPerNet converter handles ConvNeXt backbones (timm convnext_*); the entry names "
            f"encoder {encoder!r}"
        )
    if options.get("encoder_norms") is False:
        raise WeightsError(
            "transformers' ConvNextBackbone normalises its outputs; the entry must not set encoder_norms=False"
        )
    keep_aux = bool(options.get("aux_head", False))
    out: dict[str, torch.Tensor] = {}
    unknown = []
    for key, value in state_dict.items():
        if key.startswith("auxiliary_head.") and not keep_aux:
            continue  # training-only head the entry does not build
        name = _convnext_backbone_name(key) if key.startswith("backbone.") else _upernet_head_name(key)
        if name is None:
            unknown.append(key)
        else:
            out[name] = value
    if not any(k.startswith("encoder.norms.") for k in out) and any(k.startswith("encoder.") for k in out):
        raise WeightsError(
            "the checkpoint's ConvNeXt backbone has no hidden_states_norms; not a transformers "
            "UperNet-ConvNeXt checkpoint"
        )
    return _fit(out, unknown, "UPerNet-ConvNeXt", entry, target)


# -- shared --------------------------------------------------------------------------------------------------------
def _fit(
    state: dict[str, torch.Tensor], unknown: list[str], what: str, entry: dict[str, Any], target: torch.nn.Module | None
) -> dict[str, torch.Tensor]:
    """segzoo's one fit check: keys without a segzoo counterpart, missing keys and shapes, as one WeightsError."""
    model = entry.get("name") or entry.get("architecture", "the model")
    return fit_state_dict(
        state,
        target if target is not None else build_meta_model(entry),
        unexpected=unknown,
        what=f"this {what} checkpoint does not fit {model!r}; is it a transformers checkpoint of this architecture?",
    )


# -- config.json -> create() arguments -----------------------------------------------------------------------------
_CONVNEXT_SIZES = {
    ((96, 192, 384, 768), (3, 3, 9, 3)): "convnext_tiny",
    ((96, 192, 384, 768), (3, 3, 27, 3)): "convnext_small",
    ((128, 256, 512, 1024), (3, 3, 27, 3)): "convnext_base",
    ((192, 384, 768, 1536), (3, 3, 27, 3)): "convnext_large",
    ((256, 512, 1024, 2048), (3, 3, 27, 3)): "convnext_xlarge",
}


def _num_labels(config: dict[str, Any]) -> int:
    if config.get("id2label"):
        return len(config["id2label"])
    if "num_labels" in config:
        return int(config["num_labels"])
    return 2  # transformers' PretrainedConfig default


def class_names_from_config(config: dict[str, Any]) -> list[str] | None:
    """``id2label`` as a list ordered by class index (``None`` if the config has none)."""
    id2label = config.get("id2label")
    if not id2label:
        return None
    return [str(id2label[k]) for k in sorted(id2label, key=int)]


def create_kwargs_from_config(config: dict[str, Any]) -> dict[str, Any]:
    """Arguments for ``segzoo.create(**kwargs)`` that build the segzoo twin of a transformers ``config.json``.

    Handles ``model_type`` ``"segformer"`` (MiT-B0..B5) and ``"upernet"`` with a ConvNeXt backbone. Raises
    :class:`segzoo.errors.ConfigurationError` for configurations segzoo's modules cannot reproduce exactly.
    Training-only settings (drop-path, dropout rates other than the classifier's, loss weights) are not carried over.
    """
    model_type = config.get("model_type")
    if model_type == "segformer":
        return _segformer_kwargs(config)
    if model_type == "upernet":
        return _upernet_kwargs(config)
    raise ConfigurationError(f"model_type {model_type!r} is not handled; expected 'segformer' or 'upernet'")


def _segformer_kwargs(config: dict[str, Any]) -> dict[str, Any]:
    def tup(key, default):
        return tuple(config.get(key, default))

    found = None
    for name, cfg in MIT_CONFIGS.items():
        if (tup("hidden_sizes", (32, 64, 160, 256)), tup("depths", (2, 2, 2, 2))) == (cfg.hidden_sizes, cfg.depths):
            found = (name, cfg)
            break
    if found is None:
        raise ConfigurationError(
            f"SegFormer config with hidden_sizes={config.get('hidden_sizes')} depths={config.get('depths')} matches "
            f"none of {sorted(MIT_CONFIGS)}"
        )
    name, cfg = found
    for key, ours in [
        ("num_attention_heads", cfg.num_attention_heads),
        ("sr_ratios", cfg.sr_ratios),
        ("patch_sizes", cfg.patch_sizes),
        ("strides", cfg.strides),
        ("mlp_ratios", cfg.mlp_ratios),
    ]:
        if key in config and tuple(config[key]) != ours:
            raise ConfigurationError(f"SegFormer config {key}={config[key]} differs from {name}'s {list(ours)}")
    if config.get("num_encoder_blocks", 4) != 4 or config.get("hidden_act", "gelu") != "gelu":
        raise ConfigurationError("only 4-stage GELU MiT encoders are supported")
    kwargs: dict[str, Any] = {
        "arch": "segformer",
        "encoder": name,
        "num_classes": _num_labels(config),
        "in_channels": int(config.get("num_channels", 3)),
    }
    decoder = int(config.get("decoder_hidden_size", 256))
    if decoder != cfg.decoder_hidden_size:
        kwargs["decoder_channels"] = decoder
    dropout = float(config.get("classifier_dropout_prob", 0.1))
    if dropout != 0.1:
        kwargs["dropout"] = dropout
    return kwargs


def _upernet_kwargs(config: dict[str, Any]) -> dict[str, Any]:
    backbone = config.get("backbone_config") or {}
    if backbone.get("model_type") != "convnext":
        raise ConfigurationError(
            f"UPerNet backbone {backbone.get('model_type')!r} is not handled; only ConvNeXt (timm convnext_*) is"
        )
    sizes = (tuple(backbone.get("hidden_sizes", (96, 192, 384, 768))), tuple(backbone.get("depths", (3, 3, 9, 3))))
    encoder = _CONVNEXT_SIZES.get(sizes)
    if encoder is None:
        raise ConfigurationError(f"ConvNeXt hidden_sizes={list(sizes[0])} depths={list(sizes[1])} is no timm convnext")
    stages = backbone.get("out_features") or [f"stage{i}" for i in backbone.get("out_indices", [1, 2, 3, 4])]
    if list(stages) != ["stage1", "stage2", "stage3", "stage4"]:
        raise ConfigurationError(f"UPerNet backbone out_features {stages} must be stage1..stage4")
    if backbone.get("patch_size", 4) != 4 or backbone.get("hidden_act", "gelu") != "gelu":
        raise ConfigurationError("only ConvNeXt with patch_size 4 and GELU is supported")
    kwargs: dict[str, Any] = {
        "arch": "upernet",
        "encoder": encoder,
        "num_classes": _num_labels(config),
        "in_channels": int(backbone.get("num_channels", 3)),
    }
    channels = int(config.get("hidden_size", 512))
    if channels != 512:
        kwargs["channels"] = channels
    scales = list(config.get("pool_scales", [1, 2, 3, 6]))
    if scales != [1, 2, 3, 6]:
        kwargs["pool_scales"] = scales
    if config.get("use_auxiliary_head", True):
        if config.get("auxiliary_num_convs", 1) != 1 or config.get("auxiliary_concat_input", False):
            raise ConfigurationError("only auxiliary heads with one conv and no input concatenation are supported")
        aux_in = config.get("auxiliary_in_channels")
        if aux_in is not None and aux_in != sizes[0][2]:
            raise ConfigurationError(f"auxiliary_in_channels={aux_in} is not the stage-3 width {sizes[0][2]}")
        kwargs["aux_head"] = True
        aux_channels = int(config.get("auxiliary_channels", 256))
        if aux_channels != 256:
            kwargs["aux_channels"] = aux_channels
    return kwargs
