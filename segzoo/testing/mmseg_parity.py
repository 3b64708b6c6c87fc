"""Parity of segzoo's mmseg conversions, one check per distinct model structure of an mmseg family's metafile.

:func:`structures` reads the installed mmsegmentation's ``configs/<family>/metafile.yaml``, loads every config that
has weights and keeps one model per distinct ``cfg.model`` (ignoring what does not change the network: class count,
losses, samplers, initialisation, data preprocessing, train/test settings, SyncBN vs BN). :func:`check_parity` loads
the same random weights into mmseg's model and into segzoo's (through the family's ``spec_from_mmseg`` and
``convert_mmseg``) and compares the logits, auxiliary head included.

Needs the ``mmseg`` test extra (see :mod:`segzoo.testing.mmseg`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from segzoo.hub.loading import build_with_weights
from segzoo.hub.remap import build_meta_model
from segzoo.testing.mmseg import build_twin, config_path, load_config, randomize_, twin_logits
from segzoo.testing.parity import create_from_entry

__all__ = ["CONFIG_CORRECTIONS", "check_family", "check_parity", "config_for", "metafile_models", "structures"]

#: cfg.model fields that do not change the network that runs at inference
_IGNORED = {
    "init_cfg",
    "pretrained",
    "loss_decode",
    "sampler",
    "data_preprocessor",
    "train_cfg",
    "test_cfg",
    "num_classes",
    "norm_eval",
    "with_cp",
    "frozen_stages",
    "zero_init_residual",
    "out_channels",
    "threshold",
}


def _configs_root() -> Path:
    return config_path("_base_/default_runtime").parent.parent


#: mmseg 1.2.2 metafile models whose ``Config`` does not build the network of their ``Weights`` (the weights file,
#: the ``Architecture`` metadata and the published numbers agree with each other, not with the config): weights file
#: name prefix -> the config that does
CONFIG_CORRECTIONS = {
    "pspnet_r50-d32_512x1024_80k_cityscapes_20220316_224840":  # listed with the R-50b-D32 config
    "configs/pspnet/pspnet_r50-d32_4xb2-80k_cityscapes-512x1024.py",
    "deeplabv3plus_r101-d8_480x480_40k_pascal_context_20200911_165459":  # listed with the R-50 config
    "configs/deeplabv3plus/deeplabv3plus_r101-d8_4xb4-40k_pascal-context-480x480.py",
    "deeplabv3plus_r101-d8_480x480_80k_pascal_context_20200911_155322":  # listed with the R-50 config
    "configs/deeplabv3plus/deeplabv3plus_r101-d8_4xb4-80k_pascal-context-480x480.py",
    "deeplabv3plus_r101-d8_512x512_80k_ade20k_20200615_014139":  # listed with the 160k config (same network)
    "configs/deeplabv3plus/deeplabv3plus_r101-d8_4xb4-80k_ade20k-512x512.py",
    "ocrnet_hr18s_512x512_160k_ade20k_20200615_184505":  # listed with the 80k config (same network)
    "configs/ocrnet/ocrnet_hr18s_4xb4-160k_ade20k-512x512.py",
    "ocrnet_hr18_512x512_160k_ade20k_20200615_200940":  # listed with the 80k config (same network)
    "configs/ocrnet/ocrnet_hr18_4xb4-160k_ade20k-512x512.py",
}


def config_for(model: dict) -> Path:
    """The config file that builds a metafile model's weights: its ``Config``, with mmseg 1.2.2's mistakes fixed
    (:data:`CONFIG_CORRECTIONS`, and the ``ddeeplabv3plus_...`` typo)."""
    weights = str(model.get("Weights", "")).rsplit("/", 1)[-1]
    relative = next((c for prefix, c in CONFIG_CORRECTIONS.items() if weights.startswith(prefix)), model["Config"])
    path = _configs_root().parent / relative
    if not path.is_file() and path.with_name(path.name[1:]).is_file():
        return path.with_name(path.name[1:])
    return path


@functools.lru_cache(maxsize=None)
def metafile_models(family: str) -> tuple[tuple[str, Path], ...]:
    """(model name, config file) of every model with weights in ``configs/<family>/metafile.yaml``."""
    import yaml

    meta = yaml.safe_load((_configs_root() / family / "metafile.yaml").read_text())
    return tuple((m["Name"], config_for(m)) for m in meta["Models"] if m.get("Weights"))


def _structure(value: Any) -> Any:
    if isinstance(value, dict):
        out = {k: _structure(v) for k, v in value.items() if k not in _IGNORED}
        if isinstance(out.get("norm_cfg"), dict):
            out["norm_cfg"] = {"type": "BN" if out["norm_cfg"].get("type") == "SyncBN" else out["norm_cfg"]["type"]}
        return out
    if isinstance(value, (list, tuple)):
        return [_structure(v) for v in value]
    return value


@functools.lru_cache(maxsize=None)
def structures(family: str) -> tuple[tuple[str, Path, dict], ...]:
    """One (model name, config file, ``cfg.model`` dict) per distinct network structure among the family's
    published models."""
    seen: dict[str, tuple[str, Path, dict]] = {}
    for name, path in metafile_models(family):
        model_cfg = load_config(str(path)).model.to_dict()
        key = json.dumps(_structure(model_cfg), sort_keys=True, default=str)
        seen.setdefault(key, (name, path, model_cfg))
    return tuple(seen.values())


def check_family(
    family: str,
    spec_from_mmseg: Callable[[dict], dict],
    convert_mmseg: Callable[[dict, dict], dict],
    *,
    select: Callable[[dict], bool] = lambda model_cfg: True,
    size: tuple[int, int] = (64, 64),
) -> dict[str, float]:
    """:func:`check_parity` for every structure of ``family`` whose ``cfg.model`` ``select`` accepts; one assertion
    lists every structure that fails. Returns ``{model name: largest logit difference}`` (auxiliary head included)."""
    checked: dict[str, float] = {}
    failures = []
    for name, path, model_cfg in structures(family):
        if not select(model_cfg):
            continue
        try:
            result = check_parity(path, spec_from_mmseg, convert_mmseg, size=size)
            checked[name] = max(result["max_diff"], result["aux_max_diff"] or 0.0)
        except Exception as err:  # noqa: BLE001 - collected and reported together
            failures.append(f"{name}: {type(err).__name__}: {err}")
            checked[name] = float("nan")
    assert not failures, f"{len(failures)} of {len(checked)} {family} structures differ from mmseg:\n" + "\n".join(
        failures
    )
    return checked


def _aux_logits(twin: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    head = twin.auxiliary_head
    logits = head(twin.extract_feat(x))
    return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=head.align_corners)


@torch.no_grad()
def check_parity(
    config: str | Path,
    spec_from_mmseg: Callable[[dict], dict],
    convert_mmseg: Callable[[dict, dict], dict],
    *,
    size: tuple[int, int] = (64, 64),
    tolerance: float = 1e-4,
    seed: int = 0,
) -> dict:
    """Assert that segzoo's model (with its auxiliary head, option ``aux_head``) gives mmseg's logits for the
    config; the conversion without the auxiliary head must also load. Returns the entry used and the largest
    logit differences (``max_diff``, ``aux_max_diff``).

    ``tolerance`` is relative to the largest logit (taken as at least 1): random ResNet-101 weights give logits up
    to about 70, and float32 sums in a different order (AVX2 against AVX-512 kernels) then differ by up to 3e-4,
    4e-6 of the range, while a conversion error moves logits by a large part of it."""
    cfg = load_config(str(config))
    spec = spec_from_mmseg(cfg.model.to_dict())
    twin = randomize_(build_twin(cfg), seed)
    state_dict = twin.state_dict()
    entry = {
        "name": Path(config).stem,
        "architecture": spec["architecture"],
        "encoder": spec["encoder"],
        "num_classes": int(cfg.model.decode_head.num_classes),
        "options": dict(spec["options"]),
    }
    without_aux = convert_mmseg(state_dict, entry)
    assert set(without_aux) == set(build_meta_model(entry).state_dict()), "conversion without the auxiliary head"
    has_aux = bool(cfg.model.get("auxiliary_head"))
    if has_aux:
        entry = dict(entry, options={**entry["options"], "aux_head": True})
    # built on the meta device and assigned the converted weights, as segzoo.load does
    model = build_with_weights(lambda: create_from_entry(entry), convert_mmseg(state_dict, entry), what=entry["name"])
    x = torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(seed + 1))
    expected = twin_logits(twin, x)
    got = model.forward_with_aux(x)
    assert expected.std() > 1e-3, "the twin's logits are near-constant: the comparison would prove nothing"
    result = {"entry": entry, "max_diff": _assert_logits_close(got["out"], expected, tolerance), "aux_max_diff": None}
    if has_aux:
        result["aux_max_diff"] = _assert_logits_close(got["aux"], _aux_logits(twin, x), tolerance)
    return result


def _assert_logits_close(got: torch.Tensor, expected: torch.Tensor, tolerance: float) -> float:
    """Assert within ``tolerance`` times the largest logit (at least 1); the largest difference."""
    torch.testing.assert_close(got, expected, atol=tolerance * max(1.0, expected.abs().max().item()), rtol=0)
    return (got - expected).abs().max().item()
