"""segmentation_models_pytorch (smp) ``FPN`` checkpoints -> segzoo ``fpn``.

smp's ``save_pretrained`` writes ``config.json`` (``FPN.__init__`` keyword arguments plus ``"_model_class":
"FPN"``) and ``model.safetensors`` (keys ``encoder.*``, ``decoder.p5``, ``decoder.p{2,3,4}.skip_conv``,
``decoder.seg_blocks.*``, ``segmentation_head.0.*``).
"""

from __future__ import annotations

import torch

from segzoo.errors import ConfigurationError
from segzoo.hub.smp import convert_smp_state_dict, load_smp_directory, smp_common_options, smp_encoder_kwargs

_KNOWN = {
    "encoder_name",
    "encoder_depth",
    "encoder_weights",
    "decoder_pyramid_channels",
    "decoder_segmentation_channels",
    "decoder_merge_policy",
    "decoder_dropout",
    "decoder_interpolation",
    "in_channels",
    "classes",
    "activation",
    "upsampling",
    "aux_params",
}


def entry_from_smp_config(config: dict) -> dict:
    """segzoo ``create`` arguments (a catalog-style entry) for an smp ``FPN`` ``config.json``."""
    encoder, num_classes, in_channels, depth = smp_common_options(config, "FPN")
    if depth != 5:
        raise ConfigurationError(
            f"smp FPN with encoder_depth={depth} builds its pyramid from the stride-1/2 features; only "
            "encoder_depth=5 is supported"
        )
    upsampling = int(config.get("upsampling", 4))
    if upsampling != 4:
        raise ConfigurationError(
            f"smp FPN with upsampling={upsampling} does not return logits at the input size; only 4 is supported"
        )
    options: dict = {
        "pyramid_channels": int(config.get("decoder_pyramid_channels", 256)),
        "segmentation_channels": int(config.get("decoder_segmentation_channels", 128)),
        "merge_policy": config.get("decoder_merge_policy", "add"),
        "dropout": float(config.get("decoder_dropout", 0.2)),
        "interpolation": config.get("decoder_interpolation", "nearest"),
        "align_corners": True,
    }
    options.update(smp_encoder_kwargs(config, _KNOWN, config.get("encoder_name", "resnet34")))
    if "output_stride" in options:
        raise ConfigurationError("segzoo fpn does not dilate its encoder; output_stride is not supported")
    return {
        "architecture": "fpn",
        "encoder": encoder,
        "num_classes": num_classes,
        "in_channels": in_channels,
        "options": options,
    }


def convert_smp_fpn(state_dict: dict[str, torch.Tensor], entry: dict) -> dict[str, torch.Tensor]:
    """smp ``FPN`` state dict -> segzoo ``fpn`` keys: ``encoder.model.*``/``encoder.*`` -> ``encoder.body.*``,
    ``decoder.*`` unchanged, ``segmentation_head.0.*`` -> ``head.classifier.*``, ``classification_head.*``
    dropped."""
    return convert_smp_state_dict(state_dict, entry)


def load_smp_fpn(directory) -> torch.nn.Module:
    """Build the segzoo ``fpn`` equivalent to an smp ``FPN`` saved in ``directory`` and load its weights."""
    return load_smp_directory(directory, entry_from_smp_config)
