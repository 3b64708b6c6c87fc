"""segmentation_models_pytorch (smp) ``PSPNet`` checkpoints -> segzoo ``pspnet``.

smp's ``PSPNet`` differs from the paper: ``encoder_depth=3`` (pyramid pooling on ResNet ``layer2``, stride 8, no
dilation; ``layer3``/``layer4`` are built but never run), 1x1 bottleneck conv, 3x3 head conv, dropout 0.2, no BatchNorm
in the 1x1 bin, ``align_corners=True`` everywhere. segzoo expresses all of it with options (:data:`SMP_OPTIONS`).
smp's ``save_pretrained`` writes ``config.json`` (``PSPNet.__init__`` keyword arguments plus ``"_model_class":
"PSPNet"``) and ``model.safetensors``.
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

#: segzoo ``pspnet`` options that reproduce smp's default ``PSPNet`` design.
SMP_OPTIONS = {
    "encoder_depth": 3,
    "output_stride": 32,
    "psp_out_channels": 512,
    "bottleneck_kernel_size": 1,
    "head_kernel_size": 3,
    "dropout": 0.2,
    "norm_in_global_bin": False,
    "align_corners": True,
}

_KNOWN = {
    "encoder_name",
    "encoder_depth",
    "encoder_weights",
    "psp_out_channels",
    "decoder_use_norm",
    "psp_use_batchnorm",
    "psp_dropout",
    "in_channels",
    "classes",
    "activation",
    "upsampling",
    "aux_params",
}


def entry_from_smp_config(config: dict) -> dict:
    """segzoo ``create`` arguments (a catalog-style entry) for an smp ``PSPNet`` ``config.json``."""
    encoder, num_classes, in_channels, depth = smp_common_options(config, "PSPNet")
    norm = config.get("psp_use_batchnorm")
    if norm is None:
        norm = config.get("decoder_use_norm", "batchnorm")
    if not smp_use_batchnorm(norm, "decoder_use_norm"):
        raise ConfigurationError("smp PSPNet without BatchNorm is not supported")
    options = dict(SMP_OPTIONS)
    options.update(
        encoder_depth=depth if depth != 5 else None,
        psp_out_channels=int(config.get("psp_out_channels", 512)),
        dropout=float(config.get("psp_dropout", 0.2)),
    )
    options.update(smp_encoder_kwargs(config, _KNOWN, config.get("encoder_name", "resnet34")))
    if options["encoder_depth"] is None:
        del options["encoder_depth"]
    final_stride = min(2**depth, options["output_stride"])
    upsampling = int(config.get("upsampling", 8))
    if upsampling != final_stride:
        raise ConfigurationError(
            f"smp PSPNet with upsampling={upsampling} and encoder_depth={depth} does not return logits at the input "
            f"size (its features are at stride {final_stride}); not supported"
        )
    return {
        "architecture": "pspnet",
        "encoder": encoder,
        "num_classes": num_classes,
        "in_channels": in_channels,
        "options": options,
    }


def convert_smp_pspnet(state_dict: dict[str, torch.Tensor], entry: dict) -> dict[str, torch.Tensor]:
    """smp ``PSPNet`` state dict -> segzoo ``pspnet`` keys: ``encoder.model.*``/``encoder.*`` -> ``encoder.body.*``
    (smp ResNets' unused ``layer3``/``layer4`` dropped), ``decoder.*`` unchanged, ``segmentation_head.0.*`` ->
    ``head.classifier.*``, ``classification_head.*`` dropped."""
    return convert_smp_state_dict(state_dict, entry)


def load_smp_pspnet(directory) -> torch.nn.Module:
    """Build the segzoo ``pspnet`` equivalent to an smp ``PSPNet`` saved in ``directory`` and load its weights."""
    return load_smp_directory(directory, entry_from_smp_config)
