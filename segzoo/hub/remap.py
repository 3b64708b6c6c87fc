"""Renaming an upstream state dict onto a segzoo model by key-prefix rules, checked key by key.

Converters describe a checkpoint layout as ``(upstream_prefix, segzoo_prefix)`` rules; :func:`remap` applies them
and checks the result against the model the catalog entry builds (on the meta device, so nothing is allocated) with
:func:`segzoo.hub.fit.fit_state_dict`, which names problems in the checkpoint's own terms.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import torch

from segzoo._factory import create_from_config
from segzoo.errors import WeightsError
from segzoo.hub.fit import fit_state_dict

Rules = Sequence[tuple[str, str]]


def build_meta_model(entry: dict[str, Any]) -> torch.nn.Module:
    """The model the catalog entry describes, on the meta device (shapes only): the load pipeline's target when
    ``segzoo.load`` is converting this very configuration (see :func:`target_for`), so it is built once per load."""
    target = _TARGET.get()
    if target is not None and target[0] == _config_key(entry):
        return target[1]
    with torch.device("meta"):
        return create_from_config(entry)


_TARGET: ContextVar[tuple[tuple, torch.nn.Module] | None] = ContextVar("segzoo_conversion_target", default=None)


def _config_key(entry: dict[str, Any]) -> tuple:
    return (
        entry["architecture"],
        entry["encoder"],
        entry["num_classes"],
        entry.get("in_channels", 3),
        repr(sorted(entry.get("options", {}).items())),
    )


@contextmanager
def target_for(entry: dict[str, Any], model: torch.nn.Module) -> Iterator[None]:
    """While converting ``entry``'s weights, :func:`build_meta_model` answers with ``model`` (already built by the
    loader) instead of building the same model again: converters that do not take a ``target`` still share it."""
    token = _TARGET.set((_config_key(entry), model))
    try:
        yield
    finally:
        _TARGET.reset(token)


def torchvision_backbone_rule(model: torch.nn.Module) -> tuple[str, str]:
    """torchvision's ``backbone.`` maps onto the timm network (``encoder.body.``) or a torchvision-layout encoder
    registered by a plugin (``encoder.features.``, e.g. ``tv_mobilenet_v3_large``)."""
    if hasattr(model.encoder, "body"):
        return ("backbone.", "encoder.body.")
    if hasattr(model.encoder, "features"):
        return ("backbone.", "encoder.features.")
    raise WeightsError(
        f"encoder {type(model.encoder).__name__} has neither a timm body nor torchvision-style features; "
        "torchvision backbone weights cannot be mapped onto it"
    )


def _rename(key: str, rules: Rules) -> str | None:
    for old, new in rules:
        if key.startswith(old):
            return new + key[len(old) :]
    return None


def _inverse(rules: Rules) -> list[tuple[str, str]]:
    return sorted(((new, old) for old, new in rules), key=lambda r: -len(r[0]))


def remap(
    state_dict: dict[str, torch.Tensor],
    entry: dict[str, Any],
    rules: Rules,
    *,
    upstream: str,
    model: torch.nn.Module | None = None,
) -> dict[str, torch.Tensor]:
    """Rename ``state_dict`` by ``rules`` (first matching prefix wins) into exactly the keys of the entry's model."""
    model = model if model is not None else build_meta_model(entry)
    expected = model.state_dict()
    renamed: dict[str, torch.Tensor] = {}
    origin: dict[str, str] = {}
    unexpected: list[str] = []
    for key, value in state_dict.items():
        new = _rename(key, rules)
        if new is None or new not in expected:
            unexpected.append(key)  # named as the checkpoint names it, in the checkpoint's order
        else:
            renamed[new], origin[new] = value, key
    inverse = _inverse(rules)
    what = entry.get("name") or entry["architecture"]
    return fit_state_dict(
        renamed,
        expected,
        unexpected=unexpected,
        checkpoint_name=lambda k: origin.get(k) or _rename(k, inverse) or k,
        what=f"this is not a {upstream} state dict for {what!r} (architecture {entry['architecture']!r}, encoder "
        f"{entry['encoder']!r}, options {entry.get('options', {})}, {entry['num_classes']} classes)",
    )
