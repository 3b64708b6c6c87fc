"""Numerical parity with torchvision's DeepLabV3 models, through the ``torchvision:deeplabv3`` converter."""

from __future__ import annotations

import functools
import logging

import pytest
import torch

from segzoo.testing.parity import checked_entry, create_from_entry, randomize_
from segzoo.errors import WeightsError

segmentation = pytest.importorskip("torchvision.models.segmentation")

MBV3_OPTIONS = {"output_stride": 16, "atrous_rates": [12, 24, 36], "aux_head": True, "aux_index": 2}
# catalog name -> (torchvision builder, encoder, options): what the catalog entry must say
CASES = {
    "deeplabv3-resnet50": ("deeplabv3_resnet50", "resnet50", {"output_stride": 8, "aux_head": True}),
    "deeplabv3-resnet101": ("deeplabv3_resnet101", "resnet101", {"output_stride": 8, "aux_head": True}),
    "deeplabv3-mobilenetv3-large": ("deeplabv3_mobilenet_v3_large", "tv_mobilenet_v3_large", MBV3_OPTIONS),
}
SIZES = [(97, 131), (128, 128)]  # one not a multiple of 32
TOLERANCE = 1e-4


def entry_for(name: str) -> dict:
    _, encoder, options = CASES[name]
    return checked_entry(name, architecture="deeplabv3", encoder=encoder, options=options, weights_format="torchvision")


@functools.lru_cache(maxsize=None)
def torchvision_model(builder: str, seed: int = 0) -> torch.nn.Module:
    """A randomised torchvision model (cached: tests only read it)."""
    torch.manual_seed(seed)
    model = getattr(segmentation, builder)(weights=None, weights_backbone=None, num_classes=21, aux_loss=True)
    return randomize_(model, seed)


@pytest.mark.parametrize("name", list(CASES))
def test_logits_match_torchvision(name):
    builder = CASES[name][0]
    entry = entry_for(name)
    reference = torchvision_model(builder)
    from segzoo_deeplab.convert import convert_torchvision_deeplabv3

    converted = convert_torchvision_deeplabv3(reference.state_dict(), entry)
    model = create_from_entry(entry)
    model.load_state_dict(converted, strict=True)
    torch.manual_seed(1)
    for size in SIZES:
        x = torch.randn(1, 3, *size)
        with torch.no_grad():
            expected, got = reference(x), model.forward_with_aux(x)
        assert set(got) == set(expected) == {"out", "aux"}
        for key in ("out", "aux"):
            assert got[key].shape == expected[key].shape == (1, 21, *size)
            diff = (got[key] - expected[key]).abs().max().item()
            assert diff <= TOLERANCE, f"{name} {key} at {size}: max |diff| {diff}"
            assert expected[key].std() > 1e-2  # the comparison is not between two near-constant maps
        assert torch.equal(model(x), got["out"])


def test_parity_test_detects_a_wrong_configuration():
    """Control: torchvision's MobileNetV3 DeepLabV3 uses rates (12, 24, 36) at stride 16; the default (6, 12, 18)
    loads (same shapes) but must give different logits."""
    entry = entry_for("deeplabv3-mobilenetv3-large")
    reference = torchvision_model("deeplabv3_mobilenet_v3_large")
    from segzoo_deeplab.convert import convert_torchvision_deeplabv3

    converted = convert_torchvision_deeplabv3(reference.state_dict(), entry)
    wrong = dict(entry, options={k: v for k, v in entry["options"].items() if k != "atrous_rates"})
    model = create_from_entry(wrong)
    model.load_state_dict(converted, strict=True)
    x = torch.randn(1, 3, 160, 160)
    with torch.no_grad():
        assert (model(x) - reference(x)["out"]).abs().max() > 1e-3


def test_loader_builds_on_meta_and_assigns(caplog):
    """What segzoo.load does with converted weights: meta-device build, strict assign, no fallback."""
    from segzoo.hub.loading import build_with_weights
    from segzoo_deeplab.convert import convert_torchvision_deeplabv3

    entry = entry_for("deeplabv3-mobilenetv3-large")
    reference = torchvision_model("deeplabv3_mobilenet_v3_large")
    converted = convert_torchvision_deeplabv3(reference.state_dict(), entry)
    with caplog.at_level(logging.DEBUG, logger="segzoo"):
        model = build_with_weights(lambda: create_from_entry(entry), converted, what="test weights")
    assert "building normally" not in caplog.text
    assert all(not t.is_meta for t in model.state_dict().values())
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        assert (model(x) - reference(x)["out"]).abs().max() <= TOLERANCE


def test_converter_names_missing_and_unexpected_keys():
    from segzoo_deeplab.convert import convert_torchvision_deeplabv3

    entry = entry_for("deeplabv3-resnet50")
    state = torchvision_model("deeplabv3_resnet50").state_dict()
    broken = {k: v for k, v in state.items() if k not in ("backbone.layer4.2.conv3.weight", "classifier.4.bias")}
    with pytest.raises(WeightsError, match=r"2 missing keys: backbone\.layer4\.2\.conv3\.weight, classifier\.4\.bias"):
        convert_torchvision_deeplabv3(broken, entry)

    no_aux = {k: v for k, v in state.items() if not k.startswith("aux_classifier.")}
    with pytest.raises(WeightsError, match=r"missing keys: aux_classifier\.0\.weight"):
        convert_torchvision_deeplabv3(no_aux, entry)

    # the wrong model: torchvision's FCN has a 3x3 conv where DeepLabV3 has its ASPP
    fcn = segmentation.fcn_resnet50(weights=None, weights_backbone=None, num_classes=21, aux_loss=True).state_dict()
    expected = (
        r"not a torchvision DeepLabV3 state dict .*missing keys: classifier\.0\.convs\.0\.0\.weight.*"
        r"unexpected keys: classifier\.0\.weight"
    )
    with pytest.raises(WeightsError, match=expected):
        convert_torchvision_deeplabv3(fcn, entry)


def test_converter_rejects_other_shapes_and_fills_batch_counters():
    from segzoo_deeplab.convert import convert_torchvision_deeplabv3

    entry = entry_for("deeplabv3-mobilenetv3-large")
    state = segmentation.deeplabv3_mobilenet_v3_large(
        weights=None, weights_backbone=None, num_classes=10, aux_loss=True
    ).state_dict()
    with pytest.raises(WeightsError, match=r"4 tensors of another shape: classifier\.4\.weight \(10, 256, 1, 1\)"):
        convert_torchvision_deeplabv3(state, entry)

    state = torchvision_model("deeplabv3_mobilenet_v3_large").state_dict()
    old_style = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    converted = convert_torchvision_deeplabv3(old_style, entry)
    assert converted.keys() == create_from_entry(entry).state_dict().keys()
    assert converted["encoder.features.0.1.num_batches_tracked"].item() == 0
