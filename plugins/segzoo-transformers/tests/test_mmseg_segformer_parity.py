"""segzoo ``segformer`` gives mmsegmentation's SegFormer logits, for every structure (MiT-B0..B5) of its metafile."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("mmseg")

from segzoo.testing.mmseg import build_twin, load_config, randomize_, twin_logits  # noqa: E402
from segzoo.testing.mmseg_parity import check_family, check_parity, metafile_models, structures  # noqa: E402
from segzoo.testing.parity import create_from_entry  # noqa: E402
from segzoo_transformers.mmseg_segformer import convert_mmseg, spec_from_mmseg  # noqa: E402

B0 = "segformer/segformer_mit-b0_8xb2-160k_ade20k-512x512"


def _encoder_in(names):
    return lambda model_cfg: spec_from_mmseg(model_cfg)["encoder"] in names


def test_every_checkpoint_maps_to_a_mit_variant():
    encoders = [
        spec_from_mmseg(load_config(str(path)).model.to_dict())["encoder"] for _, path in metafile_models("segformer")
    ]
    assert len(encoders) == 13 and sorted(set(encoders)) == [f"mit_b{i}" for i in range(6)]
    assert len(structures("segformer")) == 6  # B0..B5; the class count and crop size do not change the network


def test_b0_matches_mmseg():
    assert check_family("segformer", spec_from_mmseg, convert_mmseg, select=_encoder_in({"mit_b0"}))


@pytest.mark.slow
def test_b1_to_b3_match_mmseg():
    checked = check_family(
        "segformer",
        spec_from_mmseg,
        convert_mmseg,
        select=_encoder_in({"mit_b1", "mit_b2", "mit_b3"}),
    )
    assert len(checked) == 3


@pytest.mark.slow
def test_b4_and_b5_match_mmseg():
    """The two largest (64M and 85M parameters, about 7 s each on one core)."""
    checked = check_family(
        "segformer",
        spec_from_mmseg,
        convert_mmseg,
        select=_encoder_in({"mit_b4", "mit_b5"}),
    )
    assert len(checked) == 2


def test_entries_options():
    assert spec_from_mmseg(load_config(B0).model.to_dict()) == {
        "architecture": "segformer",
        "encoder": "mit_b0",
        "requires": "segzoo-transformers",
        "options": {"projection": "conv-bn-relu", "layer_norm_eps": 1e-6},
    }
    b5 = spec_from_mmseg(load_config("segformer/segformer_mit-b5_8xb2-160k_ade20k-640x640").model.to_dict())
    assert b5["encoder"] == "mit_b5" and b5["options"]["decoder_channels"] == 256  # mmseg: 256 for every variant


@torch.no_grad()
def test_the_fusion_reorder_is_needed():
    """Control: the fusion conv loaded in mmseg's stage order (finest first) must change the logits."""
    entry = check_parity(B0, spec_from_mmseg, convert_mmseg)["entry"]
    twin = randomize_(build_twin(load_config(B0)))
    state = convert_mmseg(twin.state_dict(), entry)
    state["decoder.fuse.0.weight"] = twin.decode_head.fusion_conv.conv.weight.clone()
    model = create_from_entry(entry).eval()
    model.load_state_dict(state)
    x = torch.randn(1, 3, 64, 64)
    assert (model(x) - twin_logits(twin, x)).abs().max() > 1e-2


def _model_cfg(section: str, **changes) -> dict:
    cfg = load_config(B0).model.to_dict()
    cfg[section].update(changes)
    return cfg


@pytest.mark.parametrize(
    ("section", "changes", "message"),
    [
        ("backbone", {"type": "PyramidVisionTransformer"}, "not mmseg's MixVisionTransformer"),
        ("backbone", {"num_layers": [1, 1, 1, 1]}, "none of B0-B5"),
        ("backbone", {"qkv_bias": False}, "qkv_bias"),
        ("backbone", {"norm_cfg": {"type": "LN", "eps": 1e-5}}, "eps 1e-6"),
        ("decode_head", {"type": "UPerHead"}, "'UPerHead'"),
        ("decode_head", {"align_corners": True}, "align_corners"),
    ],
)
def test_unsupported_variants_say_why(section, changes, message):
    with pytest.raises(ValueError, match=message):
        spec_from_mmseg(_model_cfg(section, **changes))


def test_unknown_checkpoint_key_is_refused():
    with pytest.raises(ValueError, match="unexpected key 'backbone.cls_token'"):
        convert_mmseg({"backbone.cls_token": torch.zeros(1)}, {})
