"""Turning a catalog entry, a Hub repo or a directory into a model with its weights, in one direction:

    name -> ModelSpec (segzoo.catalog) -> target model, built once on the meta device -> fetch + verify (download,
    trust, converted) -> convert for the target (the plugin's converter) -> fit_state_dict (one check, WeightsError)
    -> tensors assigned into the target -> model

Pretrained models are built on the meta device and take the loaded tensors by assignment, so loading holds one copy
of the weights, not two (random initialisation is skipped as well).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import logging
import math
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from segzoo import _network as network
from segzoo._factory import architecture_entry, create_from_config
from segzoo._plugins import registries
from segzoo.catalog import measured_on, spec
from segzoo.errors import PluginNotInstalledError, WeightsError, WeightsNotCachedError
from segzoo.hub import converted, download, trust
from segzoo.hub.fit import fit_state_dict
from segzoo.hub.remap import target_for
from segzoo.nn.pretrained import CONFIG_NAME, WEIGHTS_NAME

log = logging.getLogger("segzoo")

PICKLE_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt")


_SAFETENSORS_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}


_MAX_HEADER_BYTES = 100 << 20  # safetensors' own limit


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file straight into freshly allocated tensors.

    ``safetensors.torch.load_file`` copies out of a memory map, so for a moment the process holds the mapped file
    and the copy (twice the model in resident memory). Reading each tensor into its own buffer holds it once. The
    header is checked field by field first, so a crafted file gives one line, never a traceback.
    """
    try:
        with open(path, "rb") as f:
            size = path.stat().st_size
            (header_len,) = struct.unpack("<Q", f.read(8))
            if header_len > min(size - 8, _MAX_HEADER_BYTES):
                raise ValueError(f"header length {header_len} exceeds the file or {_MAX_HEADER_BYTES} bytes")
            tensors = _safetensors_header(f.read(header_len), size - 8 - header_len)
            base = 8 + header_len
            state = {}
            for name, dtype, shape, begin, end in tensors:
                buffer = torch.empty(end - begin, dtype=torch.uint8)
                f.seek(base + begin)
                if f.readinto(buffer.numpy()) != end - begin:
                    raise ValueError(f"file truncated inside tensor {name!r}")
                state[name] = buffer.view(dtype).reshape(shape)
            return state
    except (OSError, ValueError, struct.error) as err:
        raise WeightsError(f"{path} is not a readable safetensors file: {err}") from None


def _safetensors_header(raw: bytes, data_size: int) -> list[tuple[str, torch.dtype, list[int], int, int]]:
    """``(name, dtype, shape, begin, end)`` per tensor in file order; ValueError names the first inconsistency."""
    try:
        header = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"header is not JSON ({err})") from None
    if not isinstance(header, dict):
        raise ValueError(f"header is a JSON {type(header).__name__}, not an object")
    header.pop("__metadata__", None)
    tensors = []
    for name, tensor in header.items():
        if not isinstance(tensor, dict) or tensor.get("dtype") not in _SAFETENSORS_DTYPES:
            raise ValueError(f"tensor {name!r} has no supported dtype (one of {', '.join(_SAFETENSORS_DTYPES)})")
        shape, offsets = tensor.get("shape"), tensor.get("data_offsets")
        if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
            raise ValueError(f"tensor {name!r} has shape {shape!r}; dimensions must be non-negative integers")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(type(o) is int for o in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= data_size
        ):
            raise ValueError(f"tensor {name!r} has data_offsets {offsets!r} outside the file's {data_size} data bytes")
        dtype = _SAFETENSORS_DTYPES[tensor["dtype"]]
        if offsets[1] - offsets[0] != math.prod(shape) * dtype.itemsize:
            raise ValueError(f"tensor {name!r} has inconsistent offsets for shape {shape} {tensor['dtype']}")
        tensors.append((name, dtype, shape, offsets[0], offsets[1]))
    tensors.sort(key=lambda t: t[3])
    for previous, current in zip(tensors, tensors[1:]):
        if current[3] < previous[4]:
            raise ValueError(f"tensors {previous[0]!r} and {current[0]!r} overlap")
    return tensors


def _read_pickle(path: Path, what: str) -> dict[str, torch.Tensor]:
    """Upstream .pth/.bin checkpoints: tensors only (``weights_only=True``), never arbitrary pickled objects."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises UnpicklingError, RuntimeError, EOFError...
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        if "weights_only" in str(err) or "Unsupported global" in str(err):
            raise WeightsError(
                f"{what}: refused to unpickle objects: the checkpoint holds Python objects besides tensors, and segzoo "
                "never runs code from a downloaded pickle; use a safetensors or plain-tensor checkpoint instead"
            ) from None
        raise WeightsError(f"{what}: the checkpoint is not a readable PyTorch file ({first[:160]})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{what}: the checkpoint does not hold a state dict of tensors")
    return state


# -- converters ----------------------------------------------------------------------------------------------------
Converter = Callable[..., dict]


def converter_for(entry: dict[str, Any]) -> Converter:
    fmt = entry["weights"]["format"]
    converters = registries().converters
    for key in (f"{fmt}:{entry['architecture']}", fmt):
        if key in converters:
            return converters.get(key).obj
    raise PluginNotInstalledError(
        f"model {entry['name']!r} has {fmt!r} weights for architecture {entry['architecture']!r} and no installed "
        f"plugin converts them; install {entry['requires']!r} (pip install {entry['requires']})"
    )


@functools.lru_cache(maxsize=None)
def _takes_target(convert: Converter) -> bool:
    try:
        return "target" in inspect.signature(convert).parameters
    except (TypeError, ValueError):  # builtins and some callables have no signature: the two-argument form
        return False


def run_converter(
    convert: Converter, state: dict[str, torch.Tensor], entry: dict[str, Any], target: torch.nn.Module | None
) -> dict[str, torch.Tensor]:
    """``convert(state, entry)``, or ``convert(state, entry, target=model)`` for converters that declare a
    ``target`` parameter (the model being loaded, on the meta device: its keys and shapes, nothing allocated).
    Either way ``remap.build_meta_model`` answers with the same target, so the model is built once per load."""
    if target is None:
        return convert(state, entry)
    with target_for(entry, target):
        return convert(state, entry, target=target) if _takes_target(convert) else convert(state, entry)


# -- fetching ------------------------------------------------------------------------------------------------------
def catalog_state_dict(entry: dict[str, Any], target: torch.nn.Module | None = None) -> dict[str, torch.Tensor]:
    """Fetch, verify and convert the weights of a catalog entry to segzoo keys (for ``target``, when given)."""
    original = converter_for(entry)  # fail before downloading if the converter's plugin is missing

    def convert(state: dict[str, torch.Tensor], entry: dict[str, Any]) -> dict[str, torch.Tensor]:
        return run_converter(original, state, entry, target)

    weights = entry["weights"]
    what = f"weights of {entry['name']!r}"
    if "url" in weights:
        return _url_state(entry, convert, what)
    hub = weights["hub"]
    path = download.fetch_hub_file(
        hub["repo_id"], hub["filename"], hub["revision"], sha256=weights.get("sha256"), what=what
    )
    if not hub["filename"].endswith(PICKLE_SUFFIXES):
        return convert(_read_safetensors(path), entry)
    # a pickle on the Hub: read once with weights_only, converted, kept as verified safetensors keyed by its content
    source = path.resolve().name if len(path.resolve().name) == 64 else download.file_sha256(path)
    origin = f"hf://{hub['repo_id']}@{hub['revision']}/{hub['filename']}"
    return _converted_state(entry, path, source, origin, convert, what)


def _url_state(entry: dict[str, Any], convert, what: str) -> dict[str, torch.Tensor]:
    """A URL source: the converted copy when it verifies, else download (verified, trust on first use) and convert."""
    weights = entry["weights"]
    url, sha = weights["url"], weights["sha256"]
    known = sha if len(sha) == 64 else trust.trusted_sha256(url)
    problem = None
    if known is not None:
        found = converted.find(entry["name"], known, converted.converter_version(entry))
        if found.path is not None:
            return _read_safetensors(found.path)
        problem = found.problem
    if problem and network.offline():
        raise WeightsNotCachedError(
            f"{what}: {problem}, and HF_HUB_OFFLINE=1 forbids downloading the source again; run `segzoo download "
            f"{entry['name']}` with network access"
        )
    with download.downloaded_url(url, sha, what=what) as (raw, actual):
        path = converted.store(
            convert(_read_pickle(raw, what), entry),
            entry["name"],
            source_sha256=actual,
            origin=url,
            converter=converted.converter_version(entry),
        )
    return _read_safetensors(path)


def _converted_state(entry, raw: Path, source_sha256: str, origin: str, convert, what: str) -> dict[str, torch.Tensor]:
    """The verified converted copy of a verified cached source ``raw``, (re)built from it when needed."""
    version = converted.converter_version(entry)
    found = converted.find(entry["name"], source_sha256, version)
    if found.path is None:
        path = converted.store(
            convert(_read_pickle(raw, what), entry),
            entry["name"],
            source_sha256=source_sha256,
            origin=origin,
            converter=version,
        )
    else:
        path = found.path
    return _read_safetensors(path)


# -- building ------------------------------------------------------------------------------------------------------
#: ``torch.nn.init``'s in-place initialisers. A meta tensor has no values to initialise, yet torch runs some of them
#: (``normal_``) through Python decompositions on meta, about 1 ms a call: most of the time of building a small
#: model on meta (MobileNetV3 U-Net: 38 -> 13 ms), for values the loaded weights replace anyway.
_INITIALISERS = (
    "uniform_",
    "normal_",
    "trunc_normal_",
    "constant_",
    "ones_",
    "zeros_",
    "eye_",
    "dirac_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "orthogonal_",
    "sparse_",
)
_META_BUILD = threading.RLock()  # the initialisers are module attributes: one meta build replaces them at a time


def _skip_on_meta(init: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    @functools.wraps(init)
    def initialise(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        return tensor if isinstance(tensor, torch.Tensor) and tensor.is_meta else init(tensor, *args, **kwargs)

    return initialise


@contextlib.contextmanager
def _no_init_on_meta():
    """Inside the block ``torch.nn.init``'s initialisers return meta tensors untouched; real tensors, in any thread,
    are initialised as always."""
    with _META_BUILD:
        originals = {name: getattr(torch.nn.init, name) for name in _INITIALISERS if hasattr(torch.nn.init, name)}
        try:
            for name, init in originals.items():
                setattr(torch.nn.init, name, _skip_on_meta(init))
            yield
        finally:
            for name, init in originals.items():
                setattr(torch.nn.init, name, init)


def build_target(build: Callable[[], torch.nn.Module]) -> torch.nn.Module:
    """The model weights will be loaded into: built on the meta device (shapes only, no random initialisation), or
    normally for constructors that compute on tensors at init."""
    try:
        with torch.device("meta"), _no_init_on_meta():
            return build()
    except Exception as err:  # noqa: BLE001 - some third-party constructors compute on tensors at init
        log.debug("meta-device build failed (%s); building normally", err)
        return build()


def build_with_weights(
    build: Callable[[], torch.nn.Module],
    state: dict[str, torch.Tensor],
    *,
    what: str,
    target: torch.nn.Module | None = None,
) -> torch.nn.Module:
    """``target`` (default: ``build_target(build)``) with ``state`` in it, checked by ``fit_state_dict`` first."""
    model = build_target(build) if target is None else target
    on_meta = any(t.is_meta for t in [*model.parameters(), *model.buffers()])
    model = _load(model, state, what=what, assign=on_meta)
    leftovers = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if leftovers:  # non-persistent buffers are not in checkpoints; build for real instead
        log.debug("tensors left on meta after assignment (%s); building normally", leftovers[:3])
        return _load(build(), state, what=what, assign=False)
    return model


def _load(model: torch.nn.Module, state: dict[str, torch.Tensor], *, what: str, assign: bool):
    expected = model.state_dict()  # once: the fit check and the dtypes both read it
    fitted = fit_state_dict(
        state,
        expected,
        what=f"{what} do not fit the model (the entry's architecture, encoder or "
        "options, or the plugin's converter, do not match the checkpoint)",
    )
    for key, value in fitted.items():
        if value.is_floating_point() and value.dtype != expected[key].dtype:
            fitted[key] = value.to(expected[key].dtype)  # e.g. checkpoints stored in fp16
    model.load_state_dict(fitted, strict=True, assign=assign)
    return model.eval()


def load_from_catalog(
    entry: dict[str, Any],
    *,
    pretrained: bool,
    state: dict[str, torch.Tensor] | None = None,
    upstream: dict[str, torch.Tensor] | None = None,
):
    """The load pipeline: typed spec -> target built once -> fetch, verify, convert for it -> fit -> model.

    ``state``: converted weights already in hand; ``upstream``: an upstream checkpoint in hand (``segzoo
    convert``), converted here instead of the entry's own source.
    """
    architecture_entry(entry["architecture"], needed_by=entry["name"])
    model_spec = spec(entry)
    what = f"weights of {model_spec.name!r}"
    if pretrained:
        target = build_target(lambda: create_from_config(entry))
        if upstream is not None:
            state = run_converter(converter_for(entry), upstream, entry, target)
        elif state is None:
            state = catalog_state_dict(entry, target)
        model = build_with_weights(lambda: create_from_config(entry), state, what=what, target=target)
    else:
        model = create_from_config(entry)
    model.config.update(
        name=model_spec.name,
        class_names=list(model_spec.class_names),
        preprocessing=dict(entry["preprocessing"]),
        license=model_spec.license,
    )
    # the published protocol, and what int8 keeps in fp32
    model.config.update({k: entry[k] for k in ("palette", "inference", "quantization") if k in entry})
    if measured := measured_on(entry):  # the dataset, split and options of the metrics: a saved folder keeps them
        model.config["dataset"] = measured
    return model


def load_from_directory(directory: Path, *, pretrained: bool = True):
    """A folder written by ``save_pretrained`` (or a Hub snapshot of one)."""
    config_file = directory / CONFIG_NAME
    try:
        config = json.loads(config_file.read_text())
    except FileNotFoundError:
        raise WeightsError(f"{directory} has no {CONFIG_NAME}; it was not written by save_pretrained") from None
    except json.JSONDecodeError as err:
        raise WeightsError(f"{config_file} is not valid JSON: {err}") from None
    _check_config(config, config_file)

    if pretrained:
        weights = directory / WEIGHTS_NAME
        if not weights.is_file():
            raise WeightsError(f"{directory} has no {WEIGHTS_NAME}")
        state = _read_safetensors(weights)
        model = build_with_weights(lambda: create_from_config(config), state, what=f"weights in {directory}")
    else:
        model = create_from_config(config)
    for key in ("name", "class_names", "preprocessing", "license", "palette", "inference", "quantization", "dataset"):
        if key in config:
            model.config[key] = config[key]
    return model


def _check_config(config: Any, config_file: Path) -> None:
    """A config.json with a missing field or a field of the wrong type gets one line naming the field."""
    if not isinstance(config, dict):
        raise WeightsError(
            f"{config_file} holds a JSON {type(config).__name__}, not an object; it was not written by "
            "segzoo's save_pretrained"
        )
    missing = [k for k in ("architecture", "encoder", "num_classes") if k not in config]
    if missing:
        raise WeightsError(f"{config_file} lacks {', '.join(missing)}; it was not written by segzoo's save_pretrained")
    positive_int = (lambda v: type(v) is int and 1 <= v <= 1_000_000, "a positive integer")
    checks = {
        "architecture": (lambda v: isinstance(v, str) and v != "", "a non-empty string"),
        "encoder": (lambda v: isinstance(v, str) and v != "", "a non-empty string"),
        "num_classes": positive_int,
        "in_channels": positive_int,
        "options": (lambda v: isinstance(v, dict), "an object of keyword arguments"),
        "class_names": (lambda v: isinstance(v, list) and all(isinstance(c, str) for c in v), "a list of strings"),
        "preprocessing": (lambda v: isinstance(v, dict), "an object"),
        "dataset": (lambda v: isinstance(v, dict), "an object"),
        "name": (lambda v: isinstance(v, str), "a string"),
        "license": (lambda v: isinstance(v, str), "a string"),
    }
    for key, (ok, expected) in checks.items():
        if key in config and not ok(config[key]):
            raise WeightsError(f"{config_file}: {key!r} is {json.dumps(config[key])[:60]}, expected {expected}")


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
