"""Turning a catalog entry, a Hub repo or a directory into a model with its weights.

Pretrained models are built on the meta device and take the loaded tensors by assignment, so loading holds one copy
of the weights, not two (random initialisation is skipped as well).
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from segzoo.errors import PluginNotInstalledError, WeightsError
from segzoo.hub import download

log = logging.getLogger("segzoo")

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
PICKLE_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt")


_SAFETENSORS_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool,
}


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file straight into freshly allocated tensors.

    ``safetensors.torch.load_file`` copies out of a memory map, so for a moment the process holds the mapped file
    and the copy (twice the model in resident memory). Reading each tensor into its own buffer holds it once.
    """
    import struct

    try:
        with open(path, "rb") as f:
            size = path.stat().st_size
            (header_len,) = struct.unpack("<Q", f.read(8))
            if header_len > size - 8:
                raise ValueError("header longer than the file")
            header = json.loads(f.read(header_len))
            header.pop("__metadata__", None)
            base = 8 + header_len
            state = {}
            for name, spec in sorted(header.items(), key=lambda item: item[1]["data_offsets"][0]):
                dtype = _SAFETENSORS_DTYPES[spec["dtype"]]
                begin, end = spec["data_offsets"]
                numel = math.prod(spec["shape"])
                if end - begin != numel * dtype.itemsize or base + end > size:
                    raise ValueError(f"tensor {name!r} has inconsistent offsets")
                buffer = torch.empty(end - begin, dtype=torch.uint8)
                f.seek(base + begin)
                if f.readinto(buffer.numpy()) != end - begin:
                    raise ValueError(f"file truncated inside tensor {name!r}")
                state[name] = buffer.view(dtype).reshape(spec["shape"])
            return state
    except (OSError, ValueError, KeyError, TypeError, struct.error) as err:
        raise WeightsError(f"{path} is not a readable safetensors file: {err}") from None


def _read_pickle(path: Path) -> dict[str, torch.Tensor]:
    """Upstream .pth/.bin checkpoints: tensors only (``weights_only=True``), never arbitrary pickled objects."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001
        raise WeightsError(f"{path.name} is not a plain tensor checkpoint (refused to unpickle objects): {err}") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsError(f"{path.name} does not hold a state dict")
    return state


def _save_atomically(state: dict[str, torch.Tensor], target: Path) -> None:
    from safetensors.torch import save_file

    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        save_file({k: v.contiguous() for k, v in state.items()}, str(tmp), metadata={"format": "pt"})
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


# -- converters ----------------------------------------------------------------------------------------------------
def converter_for(entry: dict[str, Any]) -> Callable[[dict, dict], dict]:
    from segzoo._plugins import registries

    fmt = entry["weights"]["format"]
    converters = registries().converters
    for key in (f"{fmt}:{entry['architecture']}", fmt):
        if key in converters:
            return converters.get(key).obj
    raise PluginNotInstalledError(
        f"model {entry['name']!r} has {fmt!r} weights for architecture {entry['architecture']!r} and no installed "
        f"plugin converts them; install {entry['requires']!r} (pip install {entry['requires']})"
    )


# -- fetching ------------------------------------------------------------------------------------------------------
def catalog_state_dict(entry: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Fetch, verify and convert the weights of a catalog entry to segzoo keys."""
    convert = converter_for(entry)  # fail before downloading if the converter's plugin is missing
    weights = entry["weights"]
    what = f"weights of {entry['name']!r}"
    if "url" in weights:

        def to_safetensors(raw: Path) -> None:
            _save_atomically(convert(_read_pickle(raw), entry), download.converted_path(entry["name"], weights["sha256"]))

        path = download.fetch_url_converted(
            weights["url"], weights["sha256"], cache_name=entry["name"], convert=to_safetensors, what=what
        )
        return _read_safetensors(path)
    hub = weights["hub"]
    if hub["filename"].endswith(PICKLE_SUFFIXES):
        return _hub_pickle_state(entry, convert, what)
    path = download.fetch_hub_file(
        hub["repo_id"], hub["filename"], hub["revision"], sha256=weights.get("sha256"), what=what
    )
    return convert(_read_safetensors(path), entry)


def _hub_pickle_state(entry: dict[str, Any], convert, what: str) -> dict[str, torch.Tensor]:
    """A pickled file on the Hub is read once with weights_only, converted, and kept as safetensors."""
    weights, hub = entry["weights"], entry["weights"]["hub"]
    key = weights.get("sha256") or hub["revision"].replace("/", "_")
    target = download.converted_path(entry["name"], key)
    if not target.is_file():
        raw = download.fetch_hub_file(
            hub["repo_id"], hub["filename"], hub["revision"], sha256=weights.get("sha256"), what=what
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        _save_atomically(convert(_read_pickle(raw), entry), target)
    return _read_safetensors(target)


# -- building ------------------------------------------------------------------------------------------------------
def build_with_weights(build: Callable[[], torch.nn.Module], state: dict[str, torch.Tensor], *, what: str):
    """Build on the meta device and assign ``state``; fall back to a normal build for models that cannot."""
    try:
        with torch.device("meta"):
            model = build()
    except Exception as err:  # noqa: BLE001 - some third-party constructors compute on tensors at init
        log.debug("meta-device build failed (%s); building normally", err)
        return _load(build(), state, what=what, assign=False)
    model = _load(model, state, what=what, assign=True)
    leftovers = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if leftovers:  # non-persistent buffers are not in checkpoints; build for real instead
        log.debug("tensors left on meta after assignment (%s); building normally", leftovers[:3])
        return _load(build(), state, what=what, assign=False)
    return model


def _load(model: torch.nn.Module, state: dict[str, torch.Tensor], *, what: str, assign: bool):
    expected = model.state_dict()
    state = dict(state)
    for key, ref in expected.items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = torch.zeros((), dtype=torch.long)
        elif key in state and state[key].is_floating_point() and state[key].dtype != ref.dtype:
            state[key] = state[key].to(ref.dtype)  # e.g. checkpoints stored in fp16
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
        if mismatched:
            k = mismatched[0]
            parts.append(f"{len(mismatched)} of another shape (e.g. {k}: {tuple(state[k].shape)} vs "
                         f"{tuple(expected[k].shape)})")
        raise WeightsError(f"{what} do not fit the model: {'; '.join(parts)}. The entry's architecture, encoder or "
                           "options, or the plugin's converter, do not match the checkpoint")
    model.load_state_dict(state, strict=True, assign=assign)
    return model.eval()


def load_from_catalog(entry: dict[str, Any], *, pretrained: bool):
    from segzoo._api import architecture_entry, create_from_config

    architecture_entry(entry["architecture"], needed_by=entry["name"])
    if pretrained:
        state = catalog_state_dict(entry)
        model = build_with_weights(lambda: create_from_config(entry), state, what=f"weights of {entry['name']!r}")
    else:
        model = create_from_config(entry)
    model.config.update(
        name=entry["name"],
        class_names=list(entry["class_names"]),
        preprocessing=dict(entry["preprocessing"]),
        license=entry["license"],
    )
    return model


def load_from_directory(directory: Path, *, pretrained: bool = True):
    """A folder written by ``save_pretrained`` (or a Hub snapshot of one)."""
    from segzoo._api import create_from_config

    config_file = directory / CONFIG_NAME
    try:
        config = json.loads(config_file.read_text())
    except FileNotFoundError:
        raise WeightsError(f"{directory} has no {CONFIG_NAME}; it was not written by save_pretrained") from None
    except json.JSONDecodeError as err:
        raise WeightsError(f"{config_file} is not valid JSON: {err}") from None
    missing = [k for k in ("architecture", "encoder", "num_classes") if k not in config]
    if missing:
        raise WeightsError(f"{config_file} lacks {', '.join(missing)}; it was not written by segzoo's save_pretrained")

    if pretrained:
        weights = directory / WEIGHTS_NAME
        if not weights.is_file():
            raise WeightsError(f"{directory} has no {WEIGHTS_NAME}")
        state = _read_safetensors(weights)
        model = build_with_weights(lambda: create_from_config(config), state, what=f"weights in {directory}")
    else:
        model = create_from_config(config)
    for key in ("name", "class_names", "preprocessing", "license"):
        if key in config:
            model.config[key] = config[key]
    return model


def load_from_hub(spec: str, *, pretrained: bool = True):
    """``org/repo`` or ``org/repo@revision``, a repository written by ``push_to_hub`` / ``save_pretrained``."""
    repo_id, _, revision = spec.partition("@")
    if repo_id.count("/") != 1:
        raise WeightsError(f"'hf-hub:{spec}' is not of the form hf-hub:org/repo[@revision]")
    what = f"hf-hub:{spec}"
    config = download.fetch_hub_file(repo_id, CONFIG_NAME, revision or None, sha256=None, what=what)
    if pretrained:
        weights = download.fetch_hub_file(repo_id, WEIGHTS_NAME, revision or None, sha256=None, what=what)
        if weights.parent != config.parent:  # both come from one snapshot folder of the same commit
            raise WeightsError(f"{what}: config and weights resolved to different commits; retry")
    return load_from_directory(config.parent, pretrained=pretrained)
