"""segzoo ``pspnet`` gives mmsegmentation's PSPNet logits, for every distinct structure of mmseg's PSPNet metafile."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("mmseg")

from segzoo.testing.mmseg import build_twin, load_config, randomize_, twin_logits  # noqa: E402
from segzoo.testing.mmseg_parity import check_family, check_parity, structures  # noqa: E402
from segzoo.testing.parity import create_from_entry  # noqa: E402
from segzoo_pspnet.mmseg import convert_mmseg, spec_from_mmseg  # noqa: E402


def _depth(depths):
    return lambda model_cfg: model_cfg["backbone"]["depth"] in depths


def test_resnet18_structures_match_mmseg():
    assert check_family("pspnet", spec_from_mmseg, convert_mmseg, select=_depth({18}))


@pytest.mark.slow
def test_resnet50_and_101_structures_match_mmseg():
    checked = check_family("pspnet", spec_from_mmseg, convert_mmseg, select=_depth({50, 101}))
    assert any("d32" in name for name in checked) and any("r50b" in name for name in checked)


def test_the_headline_entry_maps_to_resnet50_v1c_at_stride_8():
    cfg = load_config("pspnet/pspnet_r50-d8_4xb2-40k_cityscapes-512x1024")
    assert spec_from_mmseg(cfg.model.to_dict()) == {
        "architecture": "pspnet",
        "encoder": "resnet50_v1c",
        "options": {},
        "requires": "segzoo-pspnet",
    }


def test_d32_keeps_its_dilations_at_stride_32():
    spec = spec_from_mmseg(load_config("pspnet/pspnet_r50-d32_4xb2-80k_cityscapes-512x1024").model.to_dict())
    assert spec["options"] == {"output_stride": 32, "encoder_options": {"dilations": [1, 1, 2, 4]}}


@torch.no_grad()
def test_the_channel_reorder_is_needed():
    """Control: loading the bottleneck weight without reordering its input channels must change the logits."""
    name, path, _ = next(s for s in structures("pspnet") if s[2]["backbone"]["depth"] == 18)
    entry = check_parity(path, spec_from_mmseg, convert_mmseg)["entry"]
    twin = randomize_(build_twin(load_config(str(path))))
    state = convert_mmseg(twin.state_dict(), entry)
    state["decoder.conv.0.weight"] = twin.decode_head.bottleneck.conv.weight.clone()
    model = create_from_entry(entry).eval()
    model.load_state_dict(state)
    x = torch.randn(1, 3, 64, 64)
    assert (model(x) - twin_logits(twin, x)).abs().max() > 1e-2


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"backbone": {"type": "ResNetV1d"}}, "not an mmseg ResNet"),
        ({"backbone": {"contract_dilation": False}}, "contract_dilation"),
        ({"backbone": {"norm_cfg": {"type": "GN", "num_groups": 32}}}, "normalisation 'GN'"),
        ({"decode_head": {"type": "ASPPHead"}}, "not mmseg's PSPHead"),
        ({"decode_head": {"channels": 256}}, "256 channels per pooled branch"),
        ({"auxiliary_head": {"num_convs": 2}}, "num_convs=2"),
    ],
)
def test_unsupported_variants_say_why(change, reason):
    model_cfg = load_config("pspnet/pspnet_r50-d8_4xb2-40k_cityscapes-512x1024").model.to_dict()
    for part, values in change.items():
        model_cfg[part].update(values)
    with pytest.raises(ValueError, match=reason):
        spec_from_mmseg(model_cfg)
