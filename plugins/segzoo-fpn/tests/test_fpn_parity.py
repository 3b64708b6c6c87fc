"""segzoo ``fpn`` reproduces segmentation_models_pytorch's ``FPN`` logits from a converted smp checkpoint."""

from __future__ import annotations

import json
import warnings

import pytest
import torch

from segzoo.testing.parity import create_from_entry, max_logit_diff, randomize_
from segzoo.errors import ConfigurationError

smp = pytest.importorskip("segmentation_models_pytorch")

from segzoo_fpn.smp import convert_smp_fpn, entry_from_smp_config, load_smp_fpn  # noqa: E402

SIZES = [(64, 64), (96, 128)]  # smp FPN needs multiples of 32


def build_smp(encoder: str, **kwargs) -> torch.nn.Module:
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return randomize_(smp.FPN(encoder, encoder_weights=None, **kwargs))


def max_diff(a, b, size, in_channels: int = 3) -> float:
    return max_logit_diff(a, b, (1, in_channels, *size))


CASES = {
    "resnet34": ("resnet34", {"classes": 5}),
    "tu-resnet34": ("tu-resnet34", {"classes": 5}),
    "tu-convnext_atto": ("tu-convnext_atto", {"classes": 3}),
    "resnet18-cat-in1": (
        "resnet18",
        {
            "classes": 2,
            "in_channels": 1,
            "decoder_merge_policy": "cat",
            "decoder_pyramid_channels": 64,
            "decoder_segmentation_channels": 32,
        },
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_smp_fpn_parity(case):
    encoder, kwargs = CASES[case]
    upstream = build_smp(encoder, **kwargs)
    entry = entry_from_smp_config(dict(upstream.config))
    model = create_from_entry(entry)
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

    from segzoo import registry

    convert = registry.get("converters", "smp:fpn").obj
    converted = convert(load_file(str(tmp_path / "model.safetensors")), entry_from_smp_config(config))
    assert set(converted) == set(model.state_dict())


def test_config_helper():
    entry = entry_from_smp_config(
        {"_model_class": "FPN", "encoder_name": "tu-convnext_atto", "classes": 3, "decoder_dropout": 0.1}
    )
    assert entry["encoder"] == "convnext_atto"
    assert entry["options"]["align_corners"] is True and entry["options"]["dropout"] == 0.1
    with pytest.raises(ConfigurationError, match="encoder_depth"):
        entry_from_smp_config({"_model_class": "FPN", "encoder_depth": 4})
    with pytest.raises(ConfigurationError, match="upsampling"):
        entry_from_smp_config({"_model_class": "FPN", "upsampling": 2})
    with pytest.raises(ConfigurationError, match="not supported"):
        entry_from_smp_config({"_model_class": "FPN", "some_encoder_kwarg": 1})
