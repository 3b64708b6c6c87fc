"""segzoo ``unet`` reproduces segmentation_models_pytorch's ``Unet`` logits from a converted smp checkpoint."""

from __future__ import annotations

import json
import warnings

import pytest
import torch

import segzoo
from segzoo.errors import ConfigurationError

smp = pytest.importorskip("segmentation_models_pytorch")

from segzoo_unet.smp import convert_smp_unet, entry_from_smp_config, load_smp_unet  # noqa: E402

SIZES = [(64, 64), (96, 128)]  # smp Unet encoders need multiples of 32


def randomize(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random weights everywhere, random BatchNorm statistics and affine parameters; eval mode."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.2)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
    return model.eval()


def build_smp(encoder: str, **kwargs) -> torch.nn.Module:
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return randomize(smp.Unet(encoder, encoder_weights=None, **kwargs))


def segzoo_from(entry: dict):
    return segzoo.create(
        entry["architecture"],
        encoder=entry["encoder"],
        num_classes=entry["num_classes"],
        in_channels=entry["in_channels"],
        **entry["options"],
    ).eval()


def max_diff(a: torch.nn.Module, b: torch.nn.Module, size, in_channels: int = 3) -> float:
    torch.manual_seed(1)
    x = torch.randn(1, in_channels, *size)
    with torch.no_grad():
        ya, yb = a(x), b(x)
    assert ya.shape == yb.shape == (1, ya.shape[1], *size)
    return (ya - yb).abs().max().item()


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
    model = segzoo_from(entry)
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

    from segzoo._plugins import registries

    convert = registries().converters.get("smp:unet").obj
    entry = entry_from_smp_config(config)
    converted = convert(load_file(str(tmp_path / "model.safetensors")), entry)
    assert set(converted) == set(model.state_dict())


def test_config_helper_options_and_errors():
    entry = entry_from_smp_config(
        {"_model_class": "Unet", "encoder_name": "tu-efficientnet_b0", "classes": 7, "in_channels": 1,
         "decoder_use_norm": False, "decoder_attention_type": "scse", "decoder_interpolation": "bilinear",
         "encoder_depth": 4, "decoder_channels": [128, 64, 32, 16]}
    )
    assert entry == {
        "architecture": "unet", "encoder": "efficientnet_b0", "num_classes": 7, "in_channels": 1,
        "options": {"decoder_channels": [128, 64, 32, 16], "use_batchnorm": False, "attention": "scse",
                    "interpolation": "bilinear", "encoder_depth": 4},
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
    model = segzoo_from(entry)
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
    with pytest.raises(ConfigurationError, match="shape"):
        convert_smp_unet(upstream.state_dict(), entry)
