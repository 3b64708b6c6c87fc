"""Segmentation losses for segzoo (``segzoo.create_loss(name, **options)``).

Every loss is an ``nn.Module`` called as ``loss(logits, target)`` with raw logits ``(N, C, H, W)``; see
``docs/losses.md`` for the definitions.
"""

from typing import Any

_WHERE = {
    "MODES": "_common",
    "LossInputError": "_common",
    "SegmentationLoss": "_common",
    "CombinedLoss": "combined",
    "LovaszLoss": "lovasz",
    "CrossEntropyLoss": "pixel",
    "FocalLoss": "pixel",
    "DiceLoss": "region",
    "JaccardLoss": "region",
    "TverskyLoss": "region",
}


def __getattr__(name: str) -> Any:  # imports torch only when a loss is used, not at plugin discovery
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'segzoo_losses' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"segzoo_losses.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "MODES",
    "CombinedLoss",
    "CrossEntropyLoss",
    "DiceLoss",
    "FocalLoss",
    "JaccardLoss",
    "LossInputError",
    "LovaszLoss",
    "SegmentationLoss",
    "TverskyLoss",
]
