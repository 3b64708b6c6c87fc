"""Whole-image, sliding-window and multi-scale + flip inference (mmsegmentation's protocols).

Every function takes ``fn``, a callable ``fn(x) -> logits`` (a model, or a :class:`segzoo.inference.Engine`), and a
normalised batch ``x`` of shape ``(N, C, H, W)``, and returns scores ``(N, K, H, W)`` at ``x``'s size:

* :func:`infer_whole`: one forward pass. Inputs whose sides are not multiples of ``divisor`` (the model's
  ``input_divisor``), or are shorter than ``MIN_SIDE`` (32) pixels, are zero-padded at the bottom and right (zero =
  the mean colour after normalisation, as mmsegmentation pads) and the logits cropped back.
* :func:`infer_slide`: mmsegmentation's ``slide_inference``: windows of ``crop`` every ``stride`` pixels (the last
  window is shifted to end at the border), logits summed and divided by the number of windows covering each pixel.
  Windows are batched ``batch_size`` at a time.
* :func:`infer_msflip`: mmsegmentation's "ms+flip" test-time augmentation: for each scale, resize the input
  (bilinear), run the whole or sliding inference (and on the horizontally flipped input, flipping the result
  back), resize the logits to the input size, take the softmax, and average the probabilities over all passes.
  Returns **probabilities**, not logits (their argmax is the prediction).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from segzoo.errors import SegzooError
from segzoo.nn.functional import infer_whole

__all__ = ["MODES", "InferenceSettings", "infer", "infer_msflip", "infer_slide", "infer_whole"]

MODES = ("whole", "slide", "msflip")
MMSEG_SCALES = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)


@dataclass
class InferenceSettings:
    """How to run inference: ``mode`` whole|slide|msflip; ``crop``/``stride`` (pixels, int or (h, w)) for sliding
    windows (and for msflip with ``slide=True``); ``scales`` and ``flip`` for msflip."""

    mode: str = "whole"
    crop: int | tuple[int, int] | None = None
    stride: int | tuple[int, int] | None = None
    scales: Sequence[float] = field(default_factory=lambda: list(MMSEG_SCALES))
    flip: bool = True
    slide: bool = False  # msflip: sliding windows at each scale instead of whole images
    batch_size: int = 1

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise SegzooError(f"unknown inference mode {self.mode!r}; choose from {', '.join(MODES)}")
        if (self.mode == "slide" or self.slide) and self.crop is None:
            raise SegzooError("sliding-window inference needs a crop size (--crop)")
        if self.crop is not None and self.stride is None:
            c = _pair(self.crop)
            self.stride = (max(1, c[0] * 2 // 3), max(1, c[1] * 2 // 3))
        if not self.scales or any(s <= 0 for s in self.scales):
            raise SegzooError(f"scales must be positive, got {list(self.scales)}")

    def as_dict(self) -> dict:
        d = {"mode": self.mode}
        if self.mode == "slide" or self.slide:
            d.update(crop=list(_pair(self.crop)), stride=list(_pair(self.stride)))
        if self.mode == "msflip":
            d.update(scales=list(self.scales), flip=self.flip, slide=self.slide)
        return d


def _pair(v: int | Sequence[int] | None) -> tuple[int, int]:
    if v is None:
        raise SegzooError("missing size")
    if isinstance(v, int):
        return v, v
    a, b = v
    return int(a), int(b)


def _starts(size: int, crop: int, stride: int) -> list[int]:
    grids = max(size - crop + stride - 1, 0) // stride + 1
    starts = []
    for i in range(grids):
        start = i * stride
        end = min(start + crop, size)
        starts.append(max(end - crop, 0))
    return starts


def infer_slide(
    fn: Callable,
    x: torch.Tensor,
    *,
    crop: int | tuple[int, int],
    stride: int | tuple[int, int],
    divisor: int = 1,
    batch_size: int = 1,
) -> torch.Tensor:
    """Sliding-window logits, averaged where windows overlap (mmsegmentation's ``slide_inference``)."""
    n, _, h, w = x.shape
    ch, cw = _pair(crop)
    sh, sw = _pair(stride)
    if min(ch, cw, sh, sw) < 1:
        raise SegzooError(f"crop {crop} and stride {stride} must be positive")
    windows = []
    for y in _starts(h, ch, sh):
        for x0 in _starts(w, cw, sw):
            windows.append((y, min(y + ch, h), x0, min(x0 + cw, w)))
    per_call = max(1, batch_size // max(1, n))
    out = None
    count = torch.zeros((1, 1, h, w), dtype=torch.float32, device=x.device)
    for i in range(0, len(windows), per_call):
        group = windows[i : i + per_call]
        crops = torch.cat([x[:, :, y1:y2, x1:x2] for (y1, y2, x1, x2) in group], dim=0)
        logits = infer_whole(fn, crops, divisor=divisor).float()
        if out is None:
            out = torch.zeros((n, logits.shape[1], h, w), dtype=torch.float32, device=logits.device)
        for j, (y1, y2, x1, x2) in enumerate(group):
            out[:, :, y1:y2, x1:x2] += logits[j * n : (j + 1) * n]
            count[:, :, y1:y2, x1:x2] += 1
    return out / count.to(out.device)


def _resize(t: torch.Tensor, size: tuple[int, int], align_corners: bool) -> torch.Tensor:
    if tuple(t.shape[-2:]) == tuple(size):
        return t
    return F.interpolate(t, size=size, mode="bilinear", align_corners=align_corners)


def infer_msflip(
    fn: Callable,
    x: torch.Tensor,
    *,
    scales: Sequence[float] = MMSEG_SCALES,
    flip: bool = True,
    divisor: int = 1,
    crop: int | tuple[int, int] | None = None,
    stride: int | tuple[int, int] | None = None,
    batch_size: int = 1,
    align_corners: bool = False,
) -> torch.Tensor:
    """Average of softmax probabilities over ``scales`` (and horizontal flips), at ``x``'s size."""
    n, _, h, w = x.shape
    total = None
    passes = 0
    for scale in scales:
        size = (max(1, int(h * scale + 0.5)), max(1, int(w * scale + 0.5)))
        xs = _resize(x, size, align_corners=False)
        batch = torch.cat([xs, xs.flip(-1)], dim=0) if flip else xs
        if crop is not None:
            logits = infer_slide(
                fn, batch, crop=crop, stride=stride or crop, divisor=divisor, batch_size=max(batch_size, batch.shape[0])
            )
        elif batch.shape[0] > max(batch_size, n):
            logits = torch.cat(
                [infer_whole(fn, batch[:n], divisor=divisor), infer_whole(fn, batch[n:], divisor=divisor)], dim=0
            )
        else:
            logits = infer_whole(fn, batch, divisor=divisor)
        logits = logits.float()
        if flip:
            logits = torch.cat([logits[:n], logits[n:].flip(-1)], dim=0)
        probs = _resize(logits, (h, w), align_corners).softmax(dim=1)
        part = probs[:n] + probs[n:] if flip else probs
        total = part if total is None else total + part
        passes += 2 if flip else 1
    return total / passes


def infer(
    fn: Callable,
    x: torch.Tensor,
    settings: InferenceSettings | None = None,
    *,
    divisor: int | None = None,
    align_corners: bool | None = None,
) -> torch.Tensor:
    """Run ``settings.mode`` on ``x``. ``divisor`` and ``align_corners`` default to ``fn``'s (a model's or an
    Engine's) ``input_divisor`` and ``align_corners``."""
    settings = settings or InferenceSettings()
    if divisor is None:
        divisor = int(getattr(fn, "input_divisor", 1) or 1)
    if align_corners is None:
        align_corners = bool(getattr(fn, "align_corners", False))
    if x.dim() != 4:
        raise SegzooError(f"expected a batch (N, C, H, W), got shape {tuple(x.shape)}")
    if settings.mode == "whole":
        return infer_whole(fn, x, divisor=divisor)
    if settings.mode == "slide":
        return infer_slide(
            fn, x, crop=settings.crop, stride=settings.stride, divisor=divisor, batch_size=settings.batch_size
        )
    return infer_msflip(
        fn,
        x,
        scales=settings.scales,
        flip=settings.flip,
        divisor=divisor,
        crop=settings.crop if settings.slide else None,
        stride=settings.stride if settings.slide else None,
        batch_size=settings.batch_size,
        align_corners=align_corners,
    )


def passes_per_image(settings: InferenceSettings, height: int, width: int) -> int:
    """How many forward passes (windows) one image costs, for progress and cost estimates."""
    if settings.mode == "whole":
        return 1
    if settings.mode == "slide":
        ch, cw = _pair(settings.crop)
        sh, sw = _pair(settings.stride)
        return len(_starts(height, ch, sh)) * len(_starts(width, cw, sw))
    return (2 if settings.flip else 1) * len(settings.scales)
