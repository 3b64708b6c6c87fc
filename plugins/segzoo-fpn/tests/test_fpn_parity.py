"""segzoo ``fpn`` reproduces segmentation_models_pytorch's ``FPN`` logits from a converted smp checkpoint."""

from __future__ import annotations

import json
import warnings

import pytest
import torch

import segzoo
from segzoo.errors import ConfigurationError

smp = pytest.importorskip("segmentation_models_pytorch")

from segzoo_fpn.smp import convert_smp_fpn, entry_from_smp_config, load_smp_fpn  # noqa: E402

SIZES = [(64, 64), (96, 128)]  # smp FPN needs multiples of 32


def randomize(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random BatchNorm statistics, random BatchNorm/GroupNorm affine parameters; eval mode."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.2)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
        if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.GroupNorm)):
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
    return model.eval()


def build_smp(encoder: str, **kwargs) -> torch.nn.Module:
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return randomize(smp.FPN(encoder, encoder_weights=None, **kwargs))


def segzoo_from(entry: dict):
    return segzoo.create(
        entry["architecture"],
        encoder=entry["encoder"],
        num_classes=entry["num_classes"],
        in_channels=entry["in_channels"],
        **entry["options"],
    ).eval()


def max_diff(a, b, size, in_channels: int = 3) -> float:
    torch.manual_seed(1)
    x = torch.randn(1, in_channels, *size)
    with torch.no_grad():
        ya, yb = a(x), b(x)
    assert ya.shape == yb.shape == (1, ya.shape[1], *size)
    return (ya - yb).abs().max().item()


CASES = {
    "resnet34": ("resnet34", {"classes": 5}),
    "tu-resnet34": ("tu-resnet34", {"classes": 5}),
    "tu-convnext_atto": ("tu-convnext_atto", {"classes": 3}),
    "resnet18-cat-in1": ("resnet18", {"classes": 2, "in_channels": 1, "decoder_merge_policy": "cat",
                                      "decoder_pyramid_channels": 64, "decoder_segmentation_channels": 32}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_smp_fpn_parity(case):
    encoder, kwargs = CASES[case]
    upstream = build_smp(encoder, **kwargs)
    entry = entry_from_smp_config(dict(upstream.config))
    model = segzoo_from(entry)
    model.load_state_dict(convert_smp_fpn(upstream.state_dict(), entry), strict=True)
    for size in SIZES if case == "resnet34" else SIZES[1:]:
        assert max_diff(upstream, model, size, kwargs.get("in_channels", 3)) <= 1e-4


def test_registered_converter_and_saved_directory(tmp_path):
    upstream = build_smp("resnet18", classes=4)
    upstream.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["_model_class"] == "FPN"
    model = load_smp_fpn(tmp_path)
    assert max_diff(upstream, model, (64, 96)) <= 1e-4

    from safetensors.torch import load_file

    from segzoo._plugins import registries

    convert = registries().converters.get("smp:fpn").obj
    converted = convert(load_file(str(tmp_path / "model.safetensors")), entry_from_smp_config(config))
    assert set(converted) == set(model.state_dict())


def test_config_helper():
    entry = entry_from_smp_config({"_model_class": "FPN", "encoder_name": "tu-convnext_atto", "classes": 3,
                                   "decoder_dropout": 0.1})
    assert entry["encoder"] == "convnext_atto"
    assert entry["options"]["align_corners"] is True and entry["options"]["dropout"] == 0.1
    with pytest.raises(ConfigurationError, match="encoder_depth"):
        entry_from_smp_config({"_model_class": "FPN", "encoder_depth": 4})
    with pytest.raises(ConfigurationError, match="upsampling"):
        entry_from_smp_config({"_model_class": "FPN", "upsampling": 2})
    with pytest.raises(ConfigurationError, match="not supported"):
        entry_from_smp_config({"_model_class": "FPN", "some_encoder_kwarg": 1})
