"""segzoo ``unet-original`` reproduces mmsegmentation's U-Net logits for every structure of mmseg's unet metafile."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("mmseg")

from segzoo.testing.mmseg import build_twin, load_config, randomize_, twin_logits  # noqa: E402
from segzoo.testing.parity import create_from_entry  # noqa: E402
from segzoo_unet.mmseg import convert_mmseg, spec_from_mmseg  # noqa: E402


@functools.lru_cache(maxsize=1)
def structures() -> dict[str, list[str]]:
    """Distinct model structures (spec as JSON) -> the metafile's configs that use it, from the installed mmseg."""
    import mmseg
    import yaml

    root = Path(mmseg.__file__).parent / ".mim"
    models = yaml.safe_load((root / "configs" / "unet" / "metafile.yaml").read_text())["Models"]
    found: dict[str, list[str]] = {}
    for model in models:
        name = model["Config"].removeprefix("configs/").removesuffix(".py")
        spec = spec_from_mmseg(load_config(name).model.to_dict())
        found.setdefault(json.dumps(spec, sort_keys=True), []).append(name)
    return found


def test_metafile_structures():
    """All 25 checkpoints convert; they use one backbone with three heads."""
    found = structures()
    assert sum(len(names) for names in found.values()) == 25
    heads = sorted(json.loads(spec)["options"]["decode_head"] for spec in found)
    assert heads == ["aspp", "fcn", "psp"]


@pytest.mark.slow
def test_every_structure_matches_mmseg():
    """Same random weights and BN statistics: logits (and the auxiliary head's, when kept) within 1e-4."""
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    for spec_json, names in structures().items():
        cfg = load_config(names[0])
        twin = randomize_(build_twin(cfg), seed=3)
        spec = json.loads(spec_json)
        entry = {**spec, "num_classes": cfg.model.decode_head.num_classes, "in_channels": 3,
                 "options": {**spec["options"], "auxiliary_head": True}}
        model = create_from_entry(entry)
        model.load_state_dict(convert_mmseg(twin.state_dict(), entry), strict=True)
        with torch.no_grad():
            torch.testing.assert_close(model(x), twin_logits(twin, x), atol=1e-4, rtol=0, msg=names[0])
            aux = F.interpolate(twin.auxiliary_head(twin.extract_feat(x)), size=x.shape[-2:], mode="bilinear")
            torch.testing.assert_close(model.forward_with_aux(x)["aux"], aux, atol=1e-4, rtol=0, msg=names[0])
        catalog = {**entry, "options": spec["options"]}  # catalog entries leave the auxiliary head out
        inference = create_from_entry(catalog)
        inference.load_state_dict(convert_mmseg(twin.state_dict(), catalog), strict=True)
        assert inference.aux_head is None
        with torch.no_grad():
            torch.testing.assert_close(inference(x), twin_logits(twin, x), atol=1e-4, rtol=0, msg=names[0])


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
    spec = spec_from_mmseg(_model_cfg(decode_head__channels=32, decode_head__align_corners=True,
                                      auxiliary_head__align_corners=True))
    assert spec["options"] == {"upsampling": "bilinear", "decode_head": "fcn", "head_channels": 32,
                               "align_corners": True}


def test_unknown_checkpoint_key_is_refused():
    with pytest.raises(ValueError, match="unexpected key 'backbone.stem.weight'"):
        convert_mmseg({"backbone.stem.weight": torch.zeros(1)}, {"options": {}})
