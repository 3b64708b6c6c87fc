"""Functions on model outputs shared by prediction, evaluation, metrics and training."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

__all__ = ["MIN_SIDE", "class_map", "infer_whole", "pad_to_divisor"]

#: smallest side a model is given: encoders reduce their input up to 32 times, and a smaller input leaves their
#: last stages (SegNet's pooling, SegFormer's attention reduction, ConvNeXt's stems) with nothing to work on
MIN_SIDE = 32


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


def pad_to_divisor(x: torch.Tensor, divisor: int) -> torch.Tensor:
    """``x`` zero-padded at the bottom and right so that both sides are multiples of ``divisor`` and at least
    ``MIN_SIDE`` (zero is the mean colour after normalisation, as mmsegmentation pads)."""
    h, w = x.shape[-2:]
    ph, pw = _padded_side(h, divisor) - h, _padded_side(w, divisor) - w
    return F.pad(x, (0, pw, 0, ph)) if ph or pw else x


def infer_whole(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, *, divisor: int = 1) -> torch.Tensor:
    """``fn(x)`` for an input of any size: padded by :func:`pad_to_divisor`, the logits cropped back to ``x``'s."""
    h, w = x.shape[-2:]
    return fn(pad_to_divisor(x, divisor))[..., :h, :w]


def _padded_side(size: int, divisor: int) -> int:
    side = max(size, MIN_SIDE)
    return side + (-side) % max(divisor, 1)
