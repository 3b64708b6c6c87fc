"""Functions on model outputs shared by prediction, evaluation, metrics and training."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["class_map"]


def class_map(
    scores: torch.Tensor, size: tuple[int, int] | None = None, *, align_corners: bool = False
) -> torch.Tensor:
    """Class index per pixel ``(N, H, W)`` of scores ``(N, K, h, w)`` (logits or probabilities).

    With ``size``, the scores are first resized bilinearly to ``(H, W)`` (predictions are scored at the label's own
    resolution, mmsegmentation's protocol). Uses ``max(dim=1).indices``, which picks the first maximum like
    ``argmax(dim=1)`` but is 6-13x faster on CPU for NCHW tensors (torch 2.14: 2.3 ms against 30 ms for
    11x360x480), where argmax over a non-innermost dimension was most of the evaluation's time for small models.
    """
    if size is not None and tuple(scores.shape[-2:]) != tuple(size):
        scores = F.interpolate(scores.float(), size=tuple(size), mode="bilinear", align_corners=align_corners)
    return scores.max(dim=1).indices
