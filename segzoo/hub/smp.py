"""segmentation_models_pytorch (smp) checkpoints: encoder names, state-dict keys and saved directories.

Shared by the first-party plugins whose architectures smp also has (unet, fpn, pspnet), so each maps smp's layout
the same way. segzoo's decoders mirror smp's module names, so only encoder keys and the head need renaming.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file

from segzoo._factory import create_from_config
from segzoo.errors import ConfigurationError
from segzoo.hub.fit import fit_state_dict
from segzoo.hub.remap import build_meta_model

#: smp's own (torchvision-style) encoders whose modules have the same names as timm's model of the same name.
SMP_TORCHVISION_RESNETS = {
    "resnet18": "resnet18",
    "resnet34": "resnet34",
    "resnet50": "resnet50",
    "resnet101": "resnet101",
    "resnet152": "resnet152",
    "resnext50_32x4d": "resnext50_32x4d",
    "resnext101_32x4d": "resnext101_32x4d",
    "resnext101_32x8d": "resnext101_32x8d",
    "resnext101_32x16d": "resnext101_32x16d",
    "resnext101_32x32d": "resnext101_32x32d",
}


def smp_encoder_to_segzoo(encoder_name: str) -> str:
    """The segzoo (timm) encoder equivalent to smp's ``encoder_name``, or a ConfigurationError.

    Supported: smp's torchvision-style ResNets/ResNeXts (``resnet34`` -> timm ``resnet34``: same module names) and
    timm-universal encoders (``tu-<timm name>[.<tag>]`` -> ``<timm name>``).
    """
    if encoder_name.startswith("tu-"):
        return encoder_name[3:].split(".", 1)[0]
    if encoder_name in SMP_TORCHVISION_RESNETS:
        return SMP_TORCHVISION_RESNETS[encoder_name]
    raise ConfigurationError(
        f"smp encoder {encoder_name!r} has no segzoo equivalent with identical weights; supported: "
        f"{', '.join(SMP_TORCHVISION_RESNETS)} and any 'tu-<timm model>' encoder"
    )


def smp_encoder_key(key: str) -> str:
    """Map one smp ``encoder.*`` key onto segzoo's timm encoder (``encoder.body.*``).

    ``encoder.model.<k>`` (smp ``tu-`` encoders, timm features_only) -> ``encoder.body.<k>``;
    ``encoder.<k>`` (smp ResNets, torchvision module names = timm's) -> ``encoder.body.<k>``.
    """
    rest = key[len("encoder.") :]
    if rest.startswith("model."):
        rest = rest[len("model.") :]
    return "encoder.body." + rest


def convert_smp_state_dict(
    state_dict: dict[str, torch.Tensor], entry: dict, *, head_prefix: str = "segmentation_head.0."
) -> dict[str, torch.Tensor]:
    """Map an smp model state dict (``encoder.*``, ``decoder.*``, ``segmentation_head.0.*``) onto segzoo keys.

    ``decoder.*`` keys are kept as they are (the segzoo decoders mirror smp's module names),
    ``segmentation_head.0.*`` -> ``head.classifier.*``, encoder keys via :func:`smp_encoder_key`. Dropped explicitly:
    ``classification_head.*`` (smp's optional image-level head, no segzoo counterpart) and encoder stages smp builds
    but never runs at ``encoder_depth < 5`` (its ResNets keep ``layer3``/``layer4``). The result is checked by
    :func:`segzoo.hub.fit.fit_state_dict` (a ``WeightsError`` in smp's key names when it does not fit).
    """
    model = build_meta_model(entry)
    expected = model.state_dict()
    renamed: dict[str, torch.Tensor] = {}
    upstream_name: dict[str, str] = {}
    unused_encoder: list[str] = []
    for key, value in state_dict.items():
        if key.startswith("classification_head."):
            continue
        if key.startswith("encoder."):
            new = smp_encoder_key(key)
            if new not in expected:
                unused_encoder.append(key)
                continue
        elif key.startswith(head_prefix):
            new = "head.classifier." + key[len(head_prefix) :]
        else:
            new = key  # decoder.* as it is; anything else is reported as unexpected under its own name
        renamed[new] = value
        upstream_name[new] = key
    missing = [k for k in expected if k not in renamed and not k.endswith("num_batches_tracked")]
    # only deeper stages that the chosen encoder_depth never runs may be left over
    stages = {k.split(".")[1] if not k.startswith("encoder.model.") else k.split(".")[2] for k in unused_encoder}
    unexpected = unused_encoder if missing or not stages <= {"layer3", "layer4", "fc"} else []
    return fit_state_dict(
        renamed,
        model,
        unexpected=unexpected,
        checkpoint_name=lambda k: upstream_name.get(k, k),
        what=f"smp checkpoint does not match segzoo {entry['architecture']!r} with encoder {entry['encoder']!r} "
        "(the entry's options do not describe this checkpoint)",
    )


def read_smp_directory(directory) -> tuple[dict, dict[str, torch.Tensor]]:
    """Read what smp's ``save_pretrained`` writes: ``config.json`` and ``model.safetensors``
    (``pytorch_model.bin`` as a fallback)."""
    directory = Path(directory)
    config = json.loads((directory / "config.json").read_text())
    weights = directory / "model.safetensors"
    if weights.exists():
        state_dict = load_file(str(weights), device="cpu")
    else:
        state_dict = torch.load(directory / "pytorch_model.bin", map_location="cpu", weights_only=True)
    return config, state_dict


def load_smp_directory(directory, entry_from_config: Callable[[dict], dict]) -> torch.nn.Module:
    """The segzoo model equivalent to the smp model saved in ``directory``, with its weights, in eval mode.

    ``entry_from_config`` is the architecture plugin's reading of smp's ``config.json`` (which class, which options).
    """
    config, state_dict = read_smp_directory(directory)
    entry = entry_from_config(config)
    model = create_from_config(entry)
    model.load_state_dict(convert_smp_state_dict(state_dict, entry), strict=True)
    return model.eval()


def smp_common_options(config: dict, model_class: str) -> tuple[str, int, int, int]:
    """Check the smp config parts every architecture shares; return (encoder, num_classes, in_channels, depth)."""
    found = config.get("_model_class", model_class)
    if found != model_class:
        raise ConfigurationError(f"this smp config is for {found!r}, not {model_class!r}")
    encoder_name = config.get("encoder_name", "resnet34")
    if encoder_name.startswith("timm-"):
        raise ConfigurationError(
            f"smp's deprecated 'timm-' encoder {encoder_name!r} is not supported; re-save it with the 'tu-' equivalent"
        )
    activation = config.get("activation")
    if activation not in (None, "identity"):
        warnings.warn(
            f"the smp model applies activation={activation!r} in forward(); segzoo models return logits, apply it "
            "yourself",
            stacklevel=3,
        )
    if config.get("aux_params"):
        warnings.warn(
            "the smp model has a classification head (aux_params); segzoo has no counterpart, its weights are dropped",
            stacklevel=3,
        )
    return (
        smp_encoder_to_segzoo(encoder_name),
        int(config.get("classes", 1)),
        int(config.get("in_channels", 3)),
        int(config.get("encoder_depth", 5)),
    )


def smp_use_batchnorm(value, what: str) -> bool:
    """smp's ``decoder_use_norm`` (or deprecated ``*_use_batchnorm``) as segzoo's boolean."""
    if value in (True, "batchnorm") or value == {"type": "batchnorm"}:
        return True
    if value in (False, "identity") or value == {"type": "identity"}:
        return False
    raise ConfigurationError(f"smp {what}={value!r} is not supported (only batchnorm or none)")


def smp_encoder_kwargs(config: dict, known: set[str], encoder_name: str) -> dict:
    """Extra keys in an smp config are encoder kwargs; only ``output_stride`` of a ``tu-`` encoder is supported."""
    extra = {k: v for k, v in config.items() if k not in known and not k.startswith("_")}
    options: dict = {}
    output_stride = extra.pop("output_stride", 32)
    if output_stride != 32:
        if not encoder_name.startswith("tu-"):
            raise ConfigurationError(
                "smp dilates its own encoders in every block (make_dilated), unlike timm; only 'tu-' encoders with "
                "output_stride are supported"
            )
        options["output_stride"] = int(output_stride)
    if extra:
        raise ConfigurationError(f"smp config keys not supported by the segzoo converter: {sorted(extra)}")
    return options
