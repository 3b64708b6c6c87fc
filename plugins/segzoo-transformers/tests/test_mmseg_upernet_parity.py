"""segzoo ``upernet`` gives mmsegmentation's ResNet UPerNet logits, for every distinct structure of mmseg's UPerNet
metafile."""

from __future__ import annotations

import pytest

pytest.importorskip("mmseg")

from segzoo.testing.mmseg import load_config  # noqa: E402
from segzoo.testing.mmseg_parity import check_family  # noqa: E402
from segzoo_transformers.mmseg_upernet import convert_mmseg, spec_from_mmseg  # noqa: E402


def _resnet50_aligned(model_cfg):
    return model_cfg["backbone"]["depth"] == 50 and model_cfg["decode_head"]["align_corners"]


def test_resnet50_align_corners_structure_matches_mmseg():
    assert check_family("upernet", spec_from_mmseg, convert_mmseg, select=_resnet50_aligned)


@pytest.mark.slow
def test_other_structures_match_mmseg():
    checked = check_family(
        "upernet",
        spec_from_mmseg,
        convert_mmseg,
        select=lambda model_cfg: not _resnet50_aligned(model_cfg),
    )
    assert any("r101" in name for name in checked)


def test_spec():
    spec = spec_from_mmseg(load_config("upernet/upernet_r50_4xb2-40k_cityscapes-769x769").model.to_dict())
    assert spec == {
        "architecture": "upernet",
        "encoder": "resnet50_v1c",
        "options": {"align_corners": True},
        "requires": "segzoo-transformers",
    }


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"backbone": {"strides": (1, 2, 1, 1), "dilations": (1, 1, 2, 4)}}, "dilated ResNet"),
        ({"decode_head": {"in_index": [1, 2, 3]}}, "all four ResNet stages"),
        ({"decode_head": {"type": "FPNHead"}}, "not mmseg's UPerHead"),
    ],
)
def test_unsupported_variants_say_why(change, reason):
    model_cfg = load_config("upernet/upernet_r50_4xb2-40k_cityscapes-512x1024").model.to_dict()
    for part, values in change.items():
        model_cfg[part].update(values)
    with pytest.raises(ValueError, match=reason):
        spec_from_mmseg(model_cfg)
