"""Numerical parity with torchvision's FCN models, through the ``torchvision:fcn`` converter."""

from __future__ import annotations

import functools

import pytest
import torch

from segzoo.testing.parity import checked_entry, create_from_entry, randomize_
from segzoo.errors import WeightsError

segmentation = pytest.importorskip("torchvision.models.segmentation")

# catalog name -> (torchvision builder, encoder, options): what the catalog entry must say
CASES = {
    "fcn-resnet50": ("fcn_resnet50", "resnet50", {"output_stride": 8, "aux_head": True}),
    "fcn-resnet101": ("fcn_resnet101", "resnet101", {"output_stride": 8, "aux_head": True}),
}
SIZES = [(97, 131), (128, 128)]  # one not a multiple of 32
TOLERANCE = 1e-4


def entry_for(name: str) -> dict:
    _, encoder, options = CASES[name]
    return checked_entry(name, architecture="fcn", encoder=encoder, options=options, weights_format="torchvision")


@functools.lru_cache(maxsize=None)
def torchvision_model(builder: str, seed: int = 0) -> torch.nn.Module:
    """A randomised torchvision model (cached: tests only read it)."""
    torch.manual_seed(seed)
    model = getattr(segmentation, builder)(weights=None, weights_backbone=None, num_classes=21, aux_loss=True)
    return randomize_(model, seed)


@pytest.mark.parametrize("name", list(CASES))
def test_logits_match_torchvision(name):
    from segzoo_fcn.convert import convert_torchvision_fcn

    entry = entry_for(name)
    reference = torchvision_model(CASES[name][0])
    model = create_from_entry(entry)
    model.load_state_dict(convert_torchvision_fcn(reference.state_dict(), entry), strict=True)
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


def test_dropout_is_torchvision_s_in_training():
    """Same seed, same dropout masks: torchvision's FCNHead uses nn.Dropout (element-wise), as the segzoo head."""
    from segzoo_fcn.convert import convert_torchvision_fcn

    entry = entry_for("fcn-resnet50")
    reference = torchvision_model("fcn_resnet50")
    model = create_from_entry(entry)
    model.load_state_dict(convert_torchvision_fcn(reference.state_dict(), entry), strict=True)
    assert isinstance(reference.classifier[3], torch.nn.Dropout) and type(model.head.dropout) is torch.nn.Dropout
    reference.classifier[3].train(), model.head.dropout.train()  # only the dropouts: BN statistics stay untouched
    x = torch.randn(1, 3, 64, 64)
    try:
        with torch.no_grad():
            torch.manual_seed(3)
            expected = reference(x)["out"]
            torch.manual_seed(3)
            got = model(x)
    finally:
        reference.eval(), model.eval()
    assert not torch.equal(got, model(x))  # dropout was active
    assert (got - expected).abs().max() <= TOLERANCE


def test_converter_names_missing_and_unexpected_keys():
    from segzoo_fcn.convert import convert_torchvision_fcn

    entry = entry_for("fcn-resnet50")
    state = torchvision_model("fcn_resnet50").state_dict()
    broken = {k: v for k, v in state.items() if k not in ("backbone.layer1.0.bn1.running_var", "classifier.4.weight")}
    expected = r"2 missing keys: backbone\.layer1\.0\.bn1\.running_var, classifier\.4\.weight"
    with pytest.raises(WeightsError, match=expected):
        convert_torchvision_fcn(broken, entry)

    no_aux = {k: v for k, v in state.items() if not k.startswith("aux_classifier.")}
    with pytest.raises(WeightsError, match=r"7 missing keys: aux_classifier\.0\.weight"):
        convert_torchvision_fcn(no_aux, entry)

    # the wrong model: torchvision's DeepLabV3 has an ASPP where FCN has a 3x3 conv
    deeplab = segmentation.deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=21, aux_loss=True)
    with pytest.raises(
        WeightsError,
        match=r"not a torchvision FCN state dict .*missing keys: classifier\.0\.weight.*"
        r"unexpected keys: classifier\.0\.convs\.0\.0\.weight",
    ):
        convert_torchvision_fcn(deeplab.state_dict(), entry)

    # a ResNet-50 checkpoint for the ResNet-101 entry
    with pytest.raises(WeightsError, match=r"missing keys: backbone\.layer3\.10\.bn1\.bias"):
        convert_torchvision_fcn(state, entry_for("fcn-resnet101"))
