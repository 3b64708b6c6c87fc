"""Renaming an upstream state dict onto a segzoo model by key-prefix rules, checked key by key.

Converters describe a checkpoint layout as ``(upstream_prefix, segzoo_prefix)`` rules; :func:`remap` applies them
and compares the result with the state dict of the model the catalog entry builds (on the meta device, so nothing is
allocated). Keys the checkpoint lacks, keys the model does not have and tensors of another shape are errors named in
the checkpoint's own terms; ``num_batches_tracked`` counters missing from old checkpoints are filled with zeros.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from segzoo.errors import WeightsError

Rules = Sequence[tuple[str, str]]


def build_meta_model(entry: dict[str, Any]) -> torch.nn.Module:
    """The model the catalog entry describes, on the meta device (shapes only)."""
    from segzoo._api import create_from_config

    with torch.device("meta"):
        return create_from_config(entry)


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
            return new + key[len(old):]
    return None


def _inverse(rules: Rules) -> list[tuple[str, str]]:
    return sorted(((new, old) for old, new in rules), key=lambda r: -len(r[0]))


def _listing(keys: list[str], limit: int = 6) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" (+{len(keys) - limit} more)" if len(keys) > limit else "")


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
    converted: dict[str, torch.Tensor] = {}
    unexpected: list[str] = []
    for key, value in state_dict.items():
        new = _rename(key, rules)
        if new is None or new not in expected:
            unexpected.append(key)
        else:
            converted[new] = value
    for key, ref in expected.items():
        if key.endswith("num_batches_tracked") and key not in converted:
            converted[key] = torch.zeros((), dtype=torch.long)
    inverse = _inverse(rules)
    missing = sorted(_rename(k, inverse) or k for k in expected if k not in converted)
    mismatched = [
        f"{_rename(k, inverse) or k} {tuple(converted[k].shape)} (model: {tuple(ref.shape)})"
        for k, ref in expected.items()
        if k in converted and tuple(converted[k].shape) != tuple(ref.shape)
    ]
    if missing or unexpected or mismatched:
        problems = []
        if missing:
            problems.append(f"{len(missing)} missing keys: {_listing(missing)}")
        if unexpected:
            problems.append(f"{len(unexpected)} unexpected keys: {_listing(unexpected)}")
        if mismatched:
            problems.append(f"{len(mismatched)} tensors of another shape: {_listing(mismatched, 3)}")
        what = entry.get("name") or entry["architecture"]
        raise WeightsError(
            f"this is not a {upstream} state dict for {what!r} (architecture {entry['architecture']!r}, encoder "
            f"{entry['encoder']!r}, options {entry.get('options', {})}, {entry['num_classes']} classes): "
            + "; ".join(problems)
        )
    return {key: converted[key] for key in expected}
