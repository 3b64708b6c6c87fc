"""segzoo ``ocrnet`` gives mmsegmentation's logits, and its soft object regions, for every distinct model structure
of mmseg's ocrnet metafile (HRNetV2 W18-Small / W18 / W48 and R-101-D8)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("mmseg")

from segzoo.testing.mmseg import build_twin, load_config, randomize_, twin_logits  # noqa: E402
from segzoo.testing.mmseg_parity import metafile_models, structures  # noqa: E402
from segzoo.testing.parity import create_from_entry  # noqa: E402
from segzoo_ocrnet.mmseg import convert_mmseg, spec_from_mmseg  # noqa: E402

STRUCTURES = structures("ocrnet")
HEAVY = ("_hr18_", "_hr48_", "_r101")  # W18-Small stays in the quick run


def _params():
    for name, path, _ in STRUCTURES:
        marks = [pytest.mark.slow] if any(h in name for h in HEAVY) else []
        yield pytest.param(path, id=name, marks=marks)


def test_every_checkpoint_has_a_spec_and_every_backbone_a_structure():
    encoders = {
        spec_from_mmseg(load_config(str(path)).model.to_dict())["encoder"] for _, path in metafile_models("ocrnet")
    }
    assert len(metafile_models("ocrnet")) == 24
    assert encoders == {"hrnetv2_w18_small", "hrnetv2_w18", "hrnetv2_w48", "resnet101_v1c"}
    assert len(STRUCTURES) == 4


@torch.no_grad()
def _check(config, size: tuple[int, int], num_classes: int | None = None) -> None:
    cfg = load_config(str(config))
    if num_classes is not None:
        for head in cfg.model.decode_head:
            head.num_classes = num_classes
    spec = spec_from_mmseg(cfg.model.to_dict())
    twin = randomize_(build_twin(cfg), seed=1)
    entry = {
        "name": "parity",
        "architecture": spec["architecture"],
        "encoder": spec["encoder"],
        "num_classes": int(cfg.model.decode_head[0].num_classes),
        "options": spec["options"],
    }
    model = create_from_entry(entry)
    model.load_state_dict(convert_mmseg(twin.state_dict(), entry), strict=True)
    x = torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(2))
    expected = twin_logits(twin, x)
    regions = twin.decode_head[0].forward(twin.extract_feat(x))
    regions = F.interpolate(regions, size=size, mode="bilinear", align_corners=twin.decode_head[0].align_corners)
    got = model.eval().forward_with_aux(x)
    assert expected.std() > 1e-3
    torch.testing.assert_close(got["out"], expected, atol=1e-4, rtol=0)
    # the regions' classifier bias cancels in the gather's spatial softmax: only this comparison proves it
    torch.testing.assert_close(got["aux"], regions, atol=1e-4, rtol=0)
    torch.testing.assert_close(model(x), expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("config", list(_params()))
def test_mmseg_parity(config):
    """Same random weights and BN statistics: OCR logits and soft object regions within 1e-4."""
    _check(config, (64, 64))


def test_odd_input_size_parity():
    _check("ocrnet/ocrnet_hr18s_4xb4-20k_voc12aug-512x512", (45, 71), num_classes=4)


def test_options_follow_the_config():
    hr = load_config("ocrnet/ocrnet_hr18_4xb4-20k_voc12aug-512x512").model.to_dict()
    assert spec_from_mmseg(hr) == {
        "architecture": "ocrnet",
        "encoder": "hrnetv2_w18",
        "options": {},
        "requires": "segzoo-ocrnet",
    }
    r101 = load_config("ocrnet/ocrnet_r101-d8_4xb2-40k_cityscapes-512x1024").model.to_dict()
    assert spec_from_mmseg(r101)["options"] == {
        "output_stride": 8,
        "head_input": "last",
        "region_channels": 256,
        "region_kernel_size": 3,
        "dropout": 0.1,
    }
    for head in hr["decode_head"]:
        head["align_corners"] = True
    hr["decode_head"][1].update(channels=256, ocr_channels=128)
    assert spec_from_mmseg(hr)["options"] == {"align_corners": True, "ocr_channels": 256, "ocr_key_channels": 128}


def _hr18(**head_changes) -> dict:
    cfg = load_config("ocrnet/ocrnet_hr18_4xb4-20k_voc12aug-512x512").model.to_dict()
    for index, changes in head_changes.items():
        cfg["decode_head"][int(index[1:])].update(changes)
    return cfg


@pytest.mark.parametrize(
    ("cfg", "reason"),
    [
        (_hr18(h1={"scale": 2}), "scale=2"),
        (_hr18(h0={"dropout_ratio": 0.1}), "dropout differs"),
        (_hr18(h0={"align_corners": True}), "align_corners differs"),
        (_hr18(h0={"num_convs": 2}), "num_convs=2"),
        (_hr18(h1={"norm_cfg": {"type": "GN"}}), "normalisation 'GN'"),
        ({**_hr18(), "type": "EncoderDecoder"}, "type='EncoderDecoder'"),
        ({**_hr18(), "decode_head": _hr18()["decode_head"][1]}, r"\[FCNHead, OCRHead\]"),
    ],
)
def test_unsupported_variants_say_why(cfg, reason):
    with pytest.raises(ValueError, match=reason):
        spec_from_mmseg(cfg)


def test_converter_names_what_does_not_fit():
    from segzoo.errors import WeightsError

    state_dict = build_twin("ocrnet/ocrnet_hr18s_4xb4-20k_voc12aug-512x512").state_dict()
    entry = {
        "name": "x",
        "architecture": "ocrnet",
        "encoder": "hrnetv2_w18_small",
        "num_classes": 21,
        "options": {"ocr_key_channels": 128},
    }
    with pytest.raises(WeightsError, match="tensors of another shape: decode_head.1.object_context_block"):
        convert_mmseg(state_dict, entry)
