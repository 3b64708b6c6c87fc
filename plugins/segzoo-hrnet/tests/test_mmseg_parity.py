"""segzoo ``hrnet`` gives mmsegmentation's logits, for every distinct model structure of mmseg's hrnet metafile."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("mmseg")

from segzoo.testing.mmseg import build_twin, load_config, randomize_, twin_logits  # noqa: E402
from segzoo.testing.mmseg_parity import check_parity, structures  # noqa: E402
from segzoo.testing.parity import create_from_entry  # noqa: E402
from segzoo_hrnet.mmseg import convert_mmseg, spec_from_mmseg  # noqa: E402

STRUCTURES = structures("hrnet")
HEAVY = ("_hr18_", "_hr48_")  # W18-Small stays in the quick run


def _params():
    for name, path, _ in STRUCTURES:
        marks = [pytest.mark.slow] if any(h in name for h in HEAVY) else []
        yield pytest.param(path, id=name, marks=marks)


def test_every_backbone_variant_is_enumerated():
    """W18-Small, W18 and W48 (the metafile's three backbones) each give a structure."""
    encoders = {spec_from_mmseg(load_config(str(path)).model.to_dict())["encoder"] for _, path, _ in STRUCTURES}
    assert encoders == {"hrnetv2_w18_small", "hrnetv2_w18", "hrnetv2_w48"}


@pytest.mark.parametrize("config", list(_params()))
def test_mmseg_parity(config):
    check_parity(config, spec_from_mmseg, convert_mmseg)


@torch.no_grad()
def test_odd_input_size_parity():
    """Sizes that do not halve evenly: the exchange units upsample, then resize to the finer branch (as mmseg)."""
    cfg = load_config("hrnet/fcn_hr18s_4xb4-20k_voc12aug-512x512")
    spec = spec_from_mmseg(cfg.model.to_dict())
    twin = randomize_(build_twin(cfg, decode_head=dict(num_classes=3)), seed=3)
    entry = {"architecture": "hrnet", "encoder": spec["encoder"], "num_classes": 3, "options": spec["options"]}
    model = create_from_entry(entry)
    model.load_state_dict(convert_mmseg(twin.state_dict(), entry), strict=True)
    x = torch.randn(1, 3, 45, 71)
    torch.testing.assert_close(model.eval()(x), twin_logits(twin, x), atol=1e-4, rtol=0)


def test_options_follow_the_config():
    cfg = load_config("hrnet/fcn_hr18_4xb4-20k_voc12aug-512x512").model.to_dict()
    assert spec_from_mmseg(cfg) == {
        "architecture": "hrnet",
        "encoder": "hrnetv2_w18",
        "options": {},
        "requires": "segzoo-hrnet",
    }
    cfg["decode_head"].update(align_corners=True, dropout_ratio=0.1, kernel_size=3, channels=64)
    assert spec_from_mmseg(cfg)["options"] == {"align_corners": True, "dropout": 0.1, "kernel_size": 3, "channels": 64}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda c: c["backbone"]["extra"]["stage4"].update(num_channels=(32, 64, 128, 256)), "none of segzoo's"),
        (lambda c: c["backbone"].update(norm_cfg={"type": "GN", "num_groups": 8}), "normalisation 'GN'"),
        (lambda c: c["decode_head"].update(num_convs=2), "num_convs=2"),
        (lambda c: c["decode_head"].update(type="PSPHead"), "type='PSPHead'"),
        (lambda c: c.update(auxiliary_head={"type": "FCNHead"}), "auxiliary head"),
    ],
)
def test_unsupported_variants_say_why(change, reason):
    cfg = load_config("hrnet/fcn_hr18_4xb4-20k_voc12aug-512x512").model.to_dict()
    change(cfg)
    with pytest.raises(ValueError, match=reason):
        spec_from_mmseg(cfg)


def test_converter_names_what_does_not_fit():
    from segzoo.errors import WeightsError

    cfg = load_config("hrnet/fcn_hr18s_4xb4-20k_voc12aug-512x512")
    state_dict = build_twin(cfg).state_dict()
    entry = {"name": "x", "architecture": "hrnet", "encoder": "hrnetv2_w18", "num_classes": 21, "options": {}}
    with pytest.raises(WeightsError, match="missing keys: backbone.layer1.2"):
        convert_mmseg(state_dict, entry)
