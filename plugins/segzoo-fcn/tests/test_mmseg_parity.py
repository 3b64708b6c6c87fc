"""segzoo ``fcn`` gives mmsegmentation's FCN logits, for every distinct structure of mmseg's FCN metafile."""

from __future__ import annotations

import pytest

pytest.importorskip("mmseg")

from segzoo.testing.mmseg import load_config  # noqa: E402
from segzoo.testing.mmseg_parity import check_family  # noqa: E402
from segzoo_fcn.mmseg import convert_mmseg, spec_from_mmseg  # noqa: E402


def _depth(depths):
    return lambda model_cfg: model_cfg["backbone"]["depth"] in depths


def test_resnet18_structures_match_mmseg():
    assert check_family("fcn", spec_from_mmseg, convert_mmseg, select=_depth({18}))


@pytest.mark.slow
def test_resnet50_and_101_structures_match_mmseg():
    checked = check_family("fcn", spec_from_mmseg, convert_mmseg, select=_depth({50, 101}))
    assert any(name.startswith("fcn-d6") for name in checked)


def test_fcn_d6_dilates_both_heads_at_stride_16():
    spec = spec_from_mmseg(load_config("fcn/fcn-d6_r50-d16_4xb2-40k_cityscapes-512x1024").model.to_dict())
    assert spec == {
        "architecture": "fcn",
        "encoder": "resnet50_v1c",
        "requires": "segzoo-fcn",
        "options": {"output_stride": 16, "num_convs": 2, "head_dilation": 6, "concat_input": True, "aux_dilation": 6},
    }


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"decode_head": {"num_convs": 0}}, "num_convs=0"),
        ({"decode_head": {"type": "PSPHead"}}, "not mmseg's FCNHead"),
        ({"backbone": {"depth": 34}}, "depth 34"),
        ({"backbone": {"strides": (1, 1, 1, 1)}}, "strides"),
        ({"auxiliary_head": {"in_index": 1}}, "in_index=1"),
    ],
)
def test_unsupported_variants_say_why(change, reason):
    model_cfg = load_config("fcn/fcn_r50-d8_4xb2-40k_cityscapes-512x1024").model.to_dict()
    for part, values in change.items():
        model_cfg[part].update(values)
    with pytest.raises(ValueError, match=reason):
        spec_from_mmseg(model_cfg)
