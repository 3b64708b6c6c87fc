"""segzoo ``unet`` reproduces segmentation_models_pytorch's ``Unet`` logits from a converted smp checkpoint."""

from __future__ import annotations

import json
import warnings

import pytest
import torch

from segzoo.testing.parity import create_from_entry, max_logit_diff, randomize_
from segzoo.errors import ConfigurationError, WeightsError

smp = pytest.importorskip("segmentation_models_pytorch")

from segzoo_unet.smp import convert_smp_unet, entry_from_smp_config, load_smp_unet  # noqa: E402

SIZES = [(64, 64), (96, 128)]  # smp Unet encoders need multiples of 32


def build_smp(encoder: str, **kwargs) -> torch.nn.Module:
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return randomize_(smp.Unet(encoder, encoder_weights=None, **kwargs))


def max_diff(a, b, size, in_channels: int = 3) -> float:
    return max_logit_diff(a, b, (1, in_channels, *size))


CASES = {
    "resnet34": ("resnet34", {"classes": 5}),
    "tu-resnet34": ("tu-resnet34", {"classes": 5}),
    "tu-convnext_atto": ("tu-convnext_atto", {"classes": 3}),  # finest feature at stride 4
    "resnet18-scse-in4": ("resnet18", {"classes": 2, "in_channels": 4, "decoder_attention_type": "scse"}),
    "resnet18-depth3": ("resnet18", {"classes": 1, "encoder_depth": 3, "decoder_channels": (64, 32, 16)}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_smp_unet_parity(case):
    encoder, kwargs = CASES[case]
    upstream = build_smp(encoder, **kwargs)
    entry = entry_from_smp_config(dict(upstream.config))
    model = create_from_entry(entry)
    model.load_state_dict(convert_smp_unet(upstream.state_dict(), entry), strict=True)
    sizes = SIZES if case == "resnet34" else SIZES[1:]
    for size in sizes:
        assert max_diff(upstream, model, size, kwargs.get("in_channels", 3)) <= 1e-4


def test_registered_converter_and_saved_directory(tmp_path):
    """The converter works on what smp's save_pretrained writes (config.json + model.safetensors)."""
    upstream = build_smp("resnet18", classes=4)
    upstream.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["_model_class"] == "Unet"
    model = load_smp_unet(tmp_path)
    assert max_diff(upstream, model, (64, 96)) <= 1e-4

    from safetensors.torch import load_file

    from segzoo import registry

    convert = registry.get("converters", "smp:unet").obj
    entry = entry_from_smp_config(config)
    converted = convert(load_file(str(tmp_path / "model.safetensors")), entry)
    assert set(converted) == set(model.state_dict())


def test_config_helper_options_and_errors():
    entry = entry_from_smp_config(
        {
            "_model_class": "Unet",
            "encoder_name": "tu-efficientnet_b0",
            "classes": 7,
            "in_channels": 1,
            "decoder_use_norm": False,
            "decoder_attention_type": "scse",
            "decoder_interpolation": "bilinear",
            "encoder_depth": 4,
            "decoder_channels": [128, 64, 32, 16],
        }
    )
    assert entry == {
        "architecture": "unet",
        "encoder": "efficientnet_b0",
        "num_classes": 7,
        "in_channels": 1,
        "options": {
            "decoder_channels": [128, 64, 32, 16],
            "use_batchnorm": False,
            "attention": "scse",
            "interpolation": "bilinear",
            "encoder_depth": 4,
        },
    }
    with pytest.raises(ConfigurationError, match="mit_b0"):
        entry_from_smp_config({"_model_class": "Unet", "encoder_name": "mit_b0"})
    with pytest.raises(ConfigurationError, match="FPN"):
        entry_from_smp_config({"_model_class": "FPN", "encoder_name": "resnet34"})
    with pytest.warns(UserWarning, match="sigmoid"):
        entry_from_smp_config({"_model_class": "Unet", "activation": "sigmoid"})


def test_classification_head_dropped_with_warning():
    upstream = build_smp("resnet18", classes=2, aux_params={"classes": 3})
    with pytest.warns(UserWarning, match="classification head"):
        entry = entry_from_smp_config(dict(upstream.config))
    model = create_from_entry(entry)
    model.load_state_dict(convert_smp_unet(upstream.state_dict(), entry), strict=True)
    torch.manual_seed(1)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        masks, _labels = upstream(x)
        assert (masks - model(x)).abs().max().item() <= 1e-4


def test_converter_rejects_mismatched_entry():
    upstream = build_smp("resnet18", classes=2)
    entry = entry_from_smp_config(dict(upstream.config))
    entry["options"]["decoder_channels"] = [128, 64, 32, 16, 8]
    with pytest.raises(WeightsError, match="shape"):
        convert_smp_unet(upstream.state_dict(), entry)
