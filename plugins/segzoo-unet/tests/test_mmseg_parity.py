"""segzoo ``unet-original`` reproduces mmsegmentation's U-Net logits for every structure of mmseg's unet metafile."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("mmseg")

from segzoo.testing.mmseg import load_config  # noqa: E402
from segzoo.testing.mmseg_parity import check_family, metafile_models, structures  # noqa: E402
from segzoo_unet.mmseg import convert_mmseg, spec_from_mmseg  # noqa: E402


def test_every_checkpoint_has_a_spec():
    """All 25 checkpoints of the unet metafile convert: one backbone with the three heads."""
    heads = {
        spec_from_mmseg(load_config(str(path)).model.to_dict())["options"]["decode_head"]
        for _, path in metafile_models("unet")
    }
    assert len(metafile_models("unet")) == 25 and heads == {"aspp", "fcn", "psp"}


@pytest.mark.slow
def test_every_structure_matches_mmseg():
    """Same random weights and BN statistics: logits and the auxiliary head's within 1e-4 (with and without it)."""
    checked = check_family("unet", spec_from_mmseg, convert_mmseg)
    assert len(checked) == len(structures("unet")) >= 3


def _model_cfg(**changes) -> dict:
    cfg = load_config("unet/unet-s5-d16_fcn_4xb4-40k_drive-64x64").model.to_dict()
    for path, value in changes.items():
        section, key = path.split("__")
        cfg[section][key] = value
    return cfg


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"backbone__base_channels": 32}, "base_channels=32"),
        ({"backbone__strides": (1, 2, 1, 1, 1)}, "strides"),
        ({"backbone__upsample_cfg": {"type": "DeconvModule"}}, "InterpConv"),
        ({"decode_head__type": "UPerHead"}, "'UPerHead'"),
        ({"decode_head__concat_input": True}, "concat_input"),
        ({"auxiliary_head__in_index": 2}, "in_index"),
    ],
)
def test_unsupported_variants_say_why(changes, message):
    with pytest.raises(ValueError, match=message):
        spec_from_mmseg(_model_cfg(**changes))


def test_options_are_minimal_and_follow_the_config():
    spec = spec_from_mmseg(
        _model_cfg(decode_head__channels=32, decode_head__align_corners=True, auxiliary_head__align_corners=True)
    )
    assert spec["options"] == {
        "upsampling": "bilinear",
        "decode_head": "fcn",
        "head_channels": 32,
        "align_corners": True,
    }


def test_unknown_checkpoint_key_is_refused():
    with pytest.raises(ValueError, match="unexpected key 'backbone.stem.weight'"):
        convert_mmseg({"backbone.stem.weight": torch.zeros(1)}, {"options": {}})
