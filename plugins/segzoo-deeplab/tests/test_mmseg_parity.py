"""segzoo ``deeplabv3`` / ``deeplabv3plus`` give mmsegmentation's DeepLabV3 / DeepLabV3+ logits, for every distinct
structure of their mmseg metafiles."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("mmseg")

from segzoo.testing.mmseg import build_twin, load_config, randomize_, twin_logits  # noqa: E402
from segzoo.testing.mmseg_parity import check_family, check_parity, structures  # noqa: E402
from segzoo.testing.parity import create_from_entry  # noqa: E402
from segzoo_deeplab import mmseg_deeplabv3, mmseg_deeplabv3plus  # noqa: E402

FAMILIES = {"deeplabv3": mmseg_deeplabv3, "deeplabv3plus": mmseg_deeplabv3plus}


def _depth(depths):
    return lambda model_cfg: model_cfg["backbone"]["depth"] in depths


@pytest.mark.parametrize("family", list(FAMILIES))
def test_resnet18_structures_match_mmseg(family):
    module = FAMILIES[family]
    assert check_family(family, module.spec_from_mmseg, module.convert_mmseg, select=_depth({18}))


@pytest.mark.slow
@pytest.mark.parametrize("family", list(FAMILIES))
def test_resnet50_and_101_structures_match_mmseg(family):
    module = FAMILIES[family]
    checked = check_family(family, module.spec_from_mmseg, module.convert_mmseg, select=_depth({50, 101}))
    assert any("mg124" in name for name in checked)


def test_multi_grid_is_an_encoder_option():
    spec = mmseg_deeplabv3.spec_from_mmseg(
        load_config("deeplabv3/deeplabv3_r101-d16-mg124_4xb2-40k_cityscapes-512x1024").model.to_dict()
    )
    assert spec["encoder"] == "resnet101_v1c"
    assert spec["options"] == {
        "output_stride": 16,
        "encoder_options": {"multi_grid": [1, 2, 4]},
        "aspp_channels": 512,
        "mmseg_head": True,
    }


@torch.no_grad()
def test_the_projection_reorder_is_needed():
    """Control: the ASPP projection loaded without moving mmseg's pooling branch last must change the logits."""
    _, path, _ = next(s for s in structures("deeplabv3plus") if s[2]["backbone"]["depth"] == 18)
    module = mmseg_deeplabv3plus
    entry = check_parity(path, module.spec_from_mmseg, module.convert_mmseg)["entry"]
    twin = randomize_(build_twin(load_config(str(path))))
    state = module.convert_mmseg(twin.state_dict(), entry)
    state["decoder.aspp.project.0.weight"] = twin.decode_head.bottleneck.conv.weight.clone()
    model = create_from_entry(entry).eval()
    model.load_state_dict(state)
    x = torch.randn(1, 3, 64, 64)
    assert (model(x) - twin_logits(twin, x)).abs().max() > 1e-2


@pytest.mark.parametrize(
    "family, change, reason",
    [
        ("deeplabv3", {"decode_head": {"dilations": (1, 1, 6, 12)}}, "one 1x1 branch"),
        ("deeplabv3", {"decode_head": {"type": "DepthwiseSeparableASPPHead"}}, "not mmseg's ASPPHead"),
        ("deeplabv3", {"backbone": {"strides": (1, 2, 2, 2), "dilations": (1, 1, 1, 1)}}, "output-stride-32"),
        ("deeplabv3plus", {"decode_head": {"c1_in_channels": 512}}, "c1_in_channels=512"),
        ("deeplabv3plus", {"auxiliary_head": {"type": "ASPPHead"}}, "auxiliary head 'ASPPHead'"),
    ],
)
def test_unsupported_variants_say_why(family, change, reason):
    model_cfg = load_config(f"{family}/{family}_r50-d8_4xb2-40k_cityscapes-512x1024").model.to_dict()
    for part, values in change.items():
        model_cfg[part].update(values)
    with pytest.raises(ValueError, match=reason):
        FAMILIES[family].spec_from_mmseg(model_cfg)
