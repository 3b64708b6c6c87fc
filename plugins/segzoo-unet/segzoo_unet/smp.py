"""segmentation_models_pytorch (smp) ``Unet`` checkpoints -> segzoo ``unet``.

An smp checkpoint saved with ``model.save_pretrained(dir)`` (or pushed to the Hub) is ``config.json`` — the
``Unet.__init__`` keyword arguments plus ``"_model_class": "Unet"`` — and ``model.safetensors`` with the keys
``encoder.*``, ``decoder.blocks.{i}.*``, ``segmentation_head.0.{weight,bias}`` (and ``classification_head.*`` when
``aux_params`` was given).

- :func:`entry_from_smp_config` turns ``config.json`` into the arguments of :func:`segzoo.create` (as a catalog-style
  entry: ``architecture``, ``encoder``, ``num_classes``, ``in_channels``, ``options``).
- :func:`convert_smp_unet` (registered as the ``smp:unet`` converter) maps the state dict.
- :func:`load_smp_unet` does both for a local directory and returns the loaded segzoo model.
"""

from __future__ import annotations

import torch

from segzoo.errors import ConfigurationError
from segzoo.hub.smp import (
    convert_smp_state_dict,
    load_smp_directory,
    smp_common_options,
    smp_encoder_kwargs,
    smp_use_batchnorm,
)

_KNOWN = {
    "encoder_name",
    "encoder_depth",
    "encoder_weights",
    "decoder_use_norm",
    "decoder_use_batchnorm",
    "decoder_channels",
    "decoder_attention_type",
    "decoder_interpolation",
    "in_channels",
    "classes",
    "activation",
    "aux_params",
}


def entry_from_smp_config(config: dict) -> dict:
    """segzoo ``create`` arguments for an smp ``Unet`` ``config.json`` (as a dict)."""
    encoder, num_classes, in_channels, depth = smp_common_options(config, "Unet")
    encoder_name = config.get("encoder_name", "resnet34")
    if encoder_name.startswith("vgg"):
        raise ConfigurationError("smp's own VGG encoders (Unet with a center block) are not supported")
    norm = config.get("decoder_use_batchnorm")
    if norm is None:
        norm = config.get("decoder_use_norm", "batchnorm")
    options: dict = {
        "decoder_channels": [int(c) for c in config.get("decoder_channels", (256, 128, 64, 32, 16))],
        "use_batchnorm": smp_use_batchnorm(norm, "decoder_use_norm"),
        "attention": config.get("decoder_attention_type"),
        "interpolation": config.get("decoder_interpolation", "nearest"),
    }
    if depth != 5:
        options["encoder_depth"] = depth
    if smp_encoder_kwargs(config, _KNOWN, encoder_name):
        raise ConfigurationError("smp Unet does not dilate its encoder; output_stride is not supported")
    return {
        "architecture": "unet",
        "encoder": encoder,
        "num_classes": num_classes,
        "in_channels": in_channels,
        "options": options,
    }


def convert_smp_unet(state_dict: dict[str, torch.Tensor], entry: dict) -> dict[str, torch.Tensor]:
    """smp ``Unet`` state dict -> segzoo ``unet`` keys for ``entry``.

    ``encoder.model.*`` (tu- encoders) and ``encoder.*`` (smp ResNets) -> ``encoder.body.*``; ``decoder.*``
    unchanged; ``segmentation_head.0.*`` -> ``head.classifier.*``; ``classification_head.*`` dropped.
    """
    return convert_smp_state_dict(state_dict, entry)


def load_smp_unet(directory) -> torch.nn.Module:
    """Build the segzoo ``unet`` equivalent to an smp ``Unet`` saved in ``directory`` and load its weights."""
    return load_smp_directory(directory, entry_from_smp_config)
