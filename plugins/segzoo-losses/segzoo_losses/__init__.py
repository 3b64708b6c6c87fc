"""Segmentation losses for segzoo (``segzoo.create_loss(name, **options)``).

Every loss is an ``nn.Module`` called as ``loss(logits, target)`` with raw logits ``(N, C, H, W)``; see
``docs/losses.md`` for the definitions.
"""

from segzoo_losses._common import MODES, LossInputError, SegmentationLoss
from segzoo_losses.combined import CombinedLoss
from segzoo_losses.lovasz import LovaszLoss
from segzoo_losses.pixel import CrossEntropyLoss, FocalLoss
from segzoo_losses.region import DiceLoss, JaccardLoss, TverskyLoss

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
