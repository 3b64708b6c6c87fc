"""segzoo ``pspnet`` with smp's options reproduces segmentation_models_pytorch's ``PSPNet`` logits."""

from __future__ import annotations

import json
import warnings

import pytest
import torch

import segzoo
from segzoo.testing.parity import create_from_entry, max_logit_diff, randomize_
from segzoo.errors import ConfigurationError

smp = pytest.importorskip("segmentation_models_pytorch")

from segzoo_pspnet.smp import SMP_OPTIONS, convert_smp_pspnet, entry_from_smp_config, load_smp_pspnet  # noqa: E402

SIZES = [(64, 64), (96, 128)]


def build_smp(encoder: str, **kwargs) -> torch.nn.Module:
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return randomize_(smp.PSPNet(encoder, encoder_weights=None, **kwargs))


def max_diff(a, b, size, in_channels: int = 3) -> float:
    return max_logit_diff(a, b, (1, in_channels, *size))


CASES = {
    "resnet34": ("resnet34", {"classes": 5}),  # smp default: encoder_depth=3, pyramid pooling on layer2
    "tu-resnet34": ("tu-resnet34", {"classes": 5}),
    "tu-convnext_atto": ("tu-convnext_atto", {"classes": 3}),
    "resnet18-depth5-in4": (
        "resnet18",
        {
            "classes": 2,
            "in_channels": 4,
            "encoder_depth": 5,
            "upsampling": 32,
            "psp_out_channels": 64,
            "psp_dropout": 0.5,
        },
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_smp_pspnet_parity(case):
    encoder, kwargs = CASES[case]
    upstream = build_smp(encoder, **kwargs)
    entry = entry_from_smp_config(dict(upstream.config))
    model = create_from_entry(entry)
    model.load_state_dict(convert_smp_pspnet(upstream.state_dict(), entry), strict=True)
    for size in SIZES if case == "resnet34" else SIZES[1:]:
        assert max_diff(upstream, model, size, kwargs.get("in_channels", 3)) <= 1e-4


def test_smp_options_are_create_options():
    upstream = build_smp("resnet18", classes=3)
    model = segzoo.create("pspnet", encoder="resnet18", num_classes=3, **SMP_OPTIONS).eval()
    entry = {"architecture": "pspnet", "encoder": "resnet18", "num_classes": 3, "options": SMP_OPTIONS}
    model.load_state_dict(convert_smp_pspnet(upstream.state_dict(), entry), strict=True)
    assert max_diff(upstream, model, (64, 96)) <= 1e-4


def test_registered_converter_and_saved_directory(tmp_path):
    upstream = build_smp("resnet18", classes=4)
    upstream.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["_model_class"] == "PSPNet"
    model = load_smp_pspnet(tmp_path)
    assert max_diff(upstream, model, (64, 96)) <= 1e-4

    from safetensors.torch import load_file

    from segzoo import registry

    convert = registry.get("converters", "smp:pspnet").obj
    sd = load_file(str(tmp_path / "model.safetensors"))
    assert any(k.startswith("encoder.layer4.") for k in sd)  # built by smp, never run at encoder_depth=3
    converted = convert(sd, entry_from_smp_config(config))
    assert set(converted) == set(model.state_dict())


def test_config_helper_errors():
    with pytest.raises(ConfigurationError, match="upsampling"):
        entry_from_smp_config({"_model_class": "PSPNet", "encoder_depth": 5, "upsampling": 8})
    with pytest.raises(ConfigurationError, match="make_dilated"):
        entry_from_smp_config(
            {
                "_model_class": "PSPNet",
                "encoder_name": "resnet34",
                "output_stride": 16,
                "encoder_depth": 5,
                "upsampling": 16,
            }
        )
    entry = entry_from_smp_config(
        {
            "_model_class": "PSPNet",
            "encoder_name": "tu-resnet18",
            "output_stride": 16,
            "encoder_depth": 5,
            "upsampling": 16,
        }
    )
    assert entry["options"]["output_stride"] == 16 and "encoder_depth" not in entry["options"]
