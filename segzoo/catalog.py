"""The catalog's entries as frozen dataclasses: what a pretrained model is, in types rather than dicts.

An entry is parsed once (:func:`spec`, cached per catalog entry) after the JSON schema validated it, and the load
path reads the typed :class:`ModelSpec`. ``to_dict()`` gives back exactly the JSON the entry was read from, which is
what ``segzoo.info(name)`` shows. ``tests/test_catalog_types.py`` walks ``registry.schema.json`` and these classes
together so that neither can gain, lose or retype a field without the other.

Converters registered by plugins keep receiving the entry as a dict (``spec.to_dict()``): that hook is public API.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Union

__all__ = [
    "CrossValidation",
    "DatasetInfo",
    "HubSource",
    "InferenceProtocol",
    "Metrics",
    "ModelSpec",
    "Paper",
    "PreprocessingSpec",
    "QuantizationSettings",
    "TrainingInfo",
    "UpstreamInfo",
    "UrlSource",
    "Weights",
    "measured_on",
    "spec",
]

Size = tuple[int, int]


@dataclass(frozen=True)
class PreprocessingSpec:
    """How an image becomes the model's input (``mean``/``std`` on 0..1 inputs) and how labels are read."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    resize: Mapping[str, int] | None = None
    interpolation: Literal["bilinear", "bicubic", "nearest"] | None = None
    ignore_index: int | None = None
    reduce_zero_label: bool | None = None


@dataclass(frozen=True)
class DatasetInfo:
    train: str
    eval: str
    eval_split: str | None = None
    #: dataset options the metrics were measured with; ``segzoo eval`` applies them on the entry's own dataset
    eval_options: Mapping[str, Any] | None = None
    name: str | None = None


@dataclass(frozen=True)
class InferenceProtocol:
    """The protocol the published metrics were measured with (``segzoo eval`` uses it by default)."""

    mode: Literal["whole", "slide"]
    crop: Size | None = None
    stride: Size | None = None
    align_corners: bool | None = None


@dataclass(frozen=True)
class QuantizationSettings:
    """What ``--precision int8`` keeps in fp32 for this model beyond the defaults."""

    fp32_first_convs: int | None = None
    fp32_op_types: tuple[str, ...] | None = None
    calibrate_method: Literal["MinMax", "Percentile", "Entropy"] | None = None


@dataclass(frozen=True)
class TrainingInfo:
    crop_size: Size | None = None
    iterations: int | None = None
    batch_size: int | None = None
    resources: str | None = None


@dataclass(frozen=True)
class UpstreamInfo:
    library: str
    version: str
    name: str
    config: str | None = None


@dataclass(frozen=True)
class CrossValidation:
    """Published values that estimate the recipe by ``folds``-fold cross-validation over ``split``: the weights were
    trained on all of it, so no score of theirs on held-out data exists."""

    folds: int
    split: str


@dataclass(frozen=True)
class Metrics:
    values: Mapping[str, float]
    source: str
    protocol: str | None = None
    cross_validation: CrossValidation | None = None


@dataclass(frozen=True)
class Paper:
    title: str
    url: str


@dataclass(frozen=True)
class HubSource:
    """A file in a Hub repository at a revision (a 40-hex commit pins it)."""

    repo_id: str
    filename: str
    revision: str


@dataclass(frozen=True)
class UrlSource:
    """A plain HTTP(S) file; ``sha256`` is full or a prefix (trusted on first use)."""

    url: str
    sha256: str


@dataclass(frozen=True)
class Weights:
    format: Literal["segzoo", "torchvision", "transformers", "smp", "timm", "mmseg"]
    sha256: str | None
    hub: HubSource | None = None
    url: str | None = None
    size: int | None = None
    dtype: Literal["float32", "float16", "bfloat16"] | None = None

    @property
    def source(self) -> HubSource | UrlSource:
        """Where the file comes from: exactly one of the two (the schema's ``oneOf``)."""
        if self.hub is not None:
            return self.hub
        assert self.url is not None and self.sha256 is not None  # the schema requires both for URL sources
        return UrlSource(self.url, self.sha256)


@dataclass(frozen=True)
class ModelSpec:
    """One catalog entry (registry.json, a plugin's entries or a ``SEGZOO_REGISTRY`` file)."""

    name: str
    architecture: str
    encoder: str
    requires: str
    num_classes: int
    class_names: tuple[str, ...]
    preprocessing: PreprocessingSpec
    dataset: DatasetInfo
    metrics: Metrics
    license: str
    paper: Paper
    weights: Weights
    description: str | None = None
    options: Mapping[str, Any] | None = None
    in_channels: int | None = None
    palette: tuple[tuple[int, int, int], ...] | None = None
    inference: InferenceProtocol | None = None
    quantization: QuantizationSettings | None = None
    training: TrainingInfo | None = None
    upstream: UpstreamInfo | None = None
    override: bool | None = None

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any]) -> ModelSpec:
        """An entry the schema already validated (``segzoo._catalog.validate_entry``)."""
        return _parse(cls, entry)

    def to_dict(self) -> dict[str, Any]:
        """The entry as JSON, key for key what it was parsed from (fields absent there stay absent)."""
        return _unparse(self)

    @property
    def config(self) -> dict[str, Any]:
        """What ``segzoo.create`` needs to build the model (the fields a saved ``config.json`` also has)."""
        return {
            "architecture": self.architecture,
            "encoder": self.encoder,
            "num_classes": self.num_classes,
            "in_channels": self.in_channels or 3,
            "options": copy.deepcopy(dict(self.options or {})),
        }


# -- parsing: driven by the annotations, so that a field added to a class is parsed without more code -------------
_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _parse(cls: type, data: Mapping[str, Any]) -> Any:
    hints = _hints(cls)
    values = {f.name: _value(hints[f.name], data[f.name]) for f in dataclasses.fields(cls) if f.name in data}
    obj = cls(**values)
    object.__setattr__(obj, "_present", frozenset(data))  # absent and explicit null stay distinct in to_dict()
    return obj


def _value(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
        origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _parse(hint, value)  # type: ignore[arg-type]
    if origin is tuple:
        args = typing.get_args(hint)
        inner = args[0] if len(args) == 2 and args[1] is Ellipsis or len(set(args)) == 1 else Any
        return tuple(_value(inner, v) for v in value)
    if origin is Mapping:
        return types.MappingProxyType(copy.deepcopy(dict(value)))
    return value


def _unparse(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        present = getattr(obj, "_present", None)
        return {
            f.name: _unparse(getattr(obj, f.name))
            for f in dataclasses.fields(obj)
            if (f.name in present if present is not None else getattr(obj, f.name) is not None)
        }
    if isinstance(obj, tuple):
        return [_unparse(v) for v in obj]
    if isinstance(obj, Mapping):
        return copy.deepcopy(dict(obj))
    return obj


# -- one parse per catalog entry ------------------------------------------------------------------------------------
# id(entry dict) -> (the dict, kept alive so that its id stays unique; its spec)
_SPECS: dict[int, tuple[Mapping[str, Any], ModelSpec]] = {}


def spec(entry: Mapping[str, Any]) -> ModelSpec:
    """The typed form of a validated catalog entry dict, parsed once per entry object."""
    cached = _SPECS.get(id(entry))
    if cached is not None and cached[0] is entry:
        return cached[1]
    parsed = ModelSpec.from_dict(entry)
    _SPECS[id(entry)] = (entry, parsed)
    return parsed


def measured_on(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The ``name``, ``eval_split`` and ``eval_options`` of an entry's ``dataset`` block: how its metrics were
    measured. A model loaded from the entry keeps them as ``config["dataset"]``, and its saved folder in config.json,
    so that ``segzoo eval`` scores the folder as it scores the entry."""
    dataset = entry.get("dataset") or {}
    return {k: dataset[k] for k in ("name", "eval_split", "eval_options") if k in dataset}
